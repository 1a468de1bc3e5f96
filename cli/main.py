"""The `shopchain` command: a thin click layer over node/ and chain/."""
import click

from cli.bench import bench_group
from cli.keys import keys_group
from cli.node import node_group
from cli.query import query_group
from cli.sim import sim_group
from cli.testnet import testnet_group
from cli.tx import tx_command
from cli.verify import verify_group


@click.group()
@click.version_option(package_name="shopchain")
def main() -> None:
    """Shopchain: a permissioned blockchain node for e-commerce."""


main.add_command(bench_group)
main.add_command(keys_group)
main.add_command(node_group)
main.add_command(query_group)
main.add_command(sim_group)
main.add_command(testnet_group)
main.add_command(tx_command)
main.add_command(verify_group)
