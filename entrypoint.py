"""Container entry point of the GitHub Action: everything happens in `approval.frontends.action.main()`."""

from approval.common.console import end_process
from approval.frontends.action import main

if __name__ == "__main__":
    try:
        code = main()
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line and exit code 3, never a traceback
        from approval.common.redact import redact

        print(redact(f"::error title=Model approval: no verdict::internal error: {type(exc).__name__}: {exc}"), flush=True)
        code = 3
    end_process(code)
