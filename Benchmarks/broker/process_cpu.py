"""A process's CPU time, as the broker scripts beside this file read the broker's."""
import os


def cpu_seconds(pid):
    """User and system CPU the process has used so far (the kernel counts it in ticks)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
