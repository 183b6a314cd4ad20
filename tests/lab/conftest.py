# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "lab: boots the TCG guest with a virtual IOMMU (tests/lab/run, about 30 s "
        "cached, about 1 min on the first run); deselect with -m 'not lab'")
