# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers for the tests (importable as ``support`` from any test)."""

from .libvirtd import LibvirtdError, PrivateLibvirtd, running_libvirtd
from .playbook import COLLECTIONS_PATH, REPO_ROOT, PlaybookResult, ensure_collection_link, run_playbook

__all__ = ["COLLECTIONS_PATH", "REPO_ROOT", "LibvirtdError", "PlaybookResult", "PrivateLibvirtd",
           "ensure_collection_link", "run_playbook", "running_libvirtd"]
