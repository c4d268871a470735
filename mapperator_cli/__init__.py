"""Command-line front end of mapper (Typer). Importing this package must stay cheap: no torch."""
