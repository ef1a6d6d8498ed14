"""The README says what runs: its bucket-policy block is what `storage s3 policy` prints for the storage it names."""

import re
import subprocess
from pathlib import Path

from django.test import SimpleTestCase

from documents.tests.links import storage_command

README = Path(__file__).resolve().parents[2] / "README.md"


class Readme(SimpleTestCase):
    def test_the_policy_shown_is_what_storage_s3_policy_prints(self):
        text = README.read_text()
        command = re.search(r"\.\./\.\./target/release/storage --storage \"([^\"]+)\" s3 policy --iam\n", text)
        shown = re.search(r"```json\n(.*?)```", text, re.DOTALL)
        self.assertIsNotNone(command, "the README shows the command")
        self.assertIsNotNone(shown, "the README shows the policy")
        printed = subprocess.run(
            [storage_command(), "--storage", command.group(1), "s3", "policy", "--iam"],
            capture_output=True,
            text=True,
            check=True,
        )
        self.assertEqual(shown.group(1), printed.stdout)
