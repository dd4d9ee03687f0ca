"""The approved list over time: promote a passing model, guard the list in pull requests, re-approve, compare with the last record."""
