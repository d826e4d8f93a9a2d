"""The publisher: renders a statement into a client's page files and writes them to a sink."""
