"""Container entry point of the GitHub Action: everything happens in `approval.action.main()`."""

from approval.action import main
from approval.console import end_process

if __name__ == "__main__":
    try:
        code = main()
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one line and exit code 3, never a traceback
        from approval.redact import redact

        print(redact(f"::error title=Model approval: no verdict::internal error: {type(exc).__name__}: {exc}"), flush=True)
        code = 3
    end_process(code)
