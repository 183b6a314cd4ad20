# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report of a lab run (tests/lab, tests/lab_host), as their tests read it: every failure names
what is missing and shows the end of the harness's output."""

import pytest


class LabReport:
    """rc, output and report (report.json, or None) of one harness run; harness names it in failures."""

    def __init__(self, rc, output, report, harness):
        self.rc = rc
        self.output = output
        self.report = report
        self.harness = harness

    def fail(self, msg):
        tail = "\n".join(self.output.splitlines()[-80:])
        pytest.fail(f"{msg}\n--- {self.harness} output (tail) ---\n{tail}", pytrace=False)

    def check(self, name):
        """The check of that name in the report."""
        if self.report is None:
            self.fail(f"the lab produced no report (exit code {self.rc})")
        for check in self.report["checks"]:
            if check["name"] == name:
                return check
        self.fail(f"check {name} missing from the report")

    def details(self, name):
        return self.check(name)["details"]

    def recorded(self, name):
        """What the check's play recorded (tests/lab_host): its details' recorded data."""
        data = self.details(name).get("recorded")
        if data is None:
            self.fail(f"{name} recorded nothing (see {self.details(name).get('log')})")
        return data
