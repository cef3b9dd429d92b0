"""What the suite's services share: configuration, logging, task helpers."""
