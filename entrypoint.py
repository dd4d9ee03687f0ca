"""Container entry point of the GitHub Action: everything happens in `approval.frontends.action.main()`."""

from approval.common.console import run_to_end
from approval.frontends.action import main
from approval.github import commands

if __name__ == "__main__":
    run_to_end(main, lambda line: commands.error(line, title="Model approval: no verdict"))
