"""What every layer shares and nothing above it: errors, defaults, atomic files, tools."""
