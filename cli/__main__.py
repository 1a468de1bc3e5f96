"""`python -m cli` runs the `shopchain` command."""
from cli.main import main

main()
