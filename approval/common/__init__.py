"""Cross-cutting pieces every layer uses: errors, exit codes, the one redaction point, terminal output, user files, markdown."""
