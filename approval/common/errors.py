"""Errors a user can cause. Each carries one line naming the problem and the fix."""


class ConfigError(Exception):
    """Bad input (flags, environment, config file, prompt file). Exit code 2; nothing was sent."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.problem} — {self.fix}" if self.fix else self.problem
