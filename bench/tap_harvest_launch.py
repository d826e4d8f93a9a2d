"""Run the Singer tap ``tap-harvest`` against a Harvest at another address (run by the tap's own venv).

tap-harvest has no base-URL setting: ``tap_harvest.client`` hard-codes the API
(``https://api.harvestapp.com/v2``, set on each Client in ``__init__``) and Harvest ID
(``REFRESH_URL = "https://id.getharvest.com/api/v2"``, read at each token refresh). This
launcher points both at ``--harvest URL`` (API under ``URL/v2``, Harvest ID under
``URL/api/v2``) and then calls the tap's own ``main()`` with the remaining arguments, so
every request, retry and record goes through the tap's code unchanged.

    python bench/tap_harvest_launch.py --harvest http://127.0.0.1:PORT -- --config c.json --catalog cat.json
"""

from __future__ import annotations

import sys


def main() -> None:
    """Patch the two addresses, then hand over to tap-harvest's entry point."""
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "--harvest":
        sys.exit("usage: tap_harvest_launch.py --harvest URL -- TAP-ARGS...")
    base = args[1].rstrip("/")
    tap_args = args[3:] if args[2:3] == ["--"] else args[2:]

    import tap_harvest
    import tap_harvest.client as client

    client.REFRESH_URL = f"{base}/api/v2"
    original_init = client.Client.__init__

    def init(self: client.Client, config: dict[str, object]) -> None:
        original_init(self, config)
        self.base_url = f"{base}/v2"

    client.Client.__init__ = init  # type: ignore[method-assign]
    sys.argv = ["tap-harvest", *tap_args]
    tap_harvest.main()


if __name__ == "__main__":
    main()
