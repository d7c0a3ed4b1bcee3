"""`sendingip outcomes follow-postfix`: Postfix's mail log as outcome reports (SPEC §5).

The parts, each one idea: ``postfix_log`` reads lines into counts (pure: no files, no
clock, no network); ``reader`` follows the log file through rotation and truncation;
``state`` keeps the position, the queue-id attribution and the pending report in one
file, written atomically; ``follower`` ties them together with write-ahead reports so
that a restart neither loses nor double-counts a line. ``cli/outcomes.py`` is the command.
"""
