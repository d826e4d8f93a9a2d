"""HaloPSA: OAuth2 client credentials, ticket actions as time entries, report or ticket route."""
