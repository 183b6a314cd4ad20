# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "lab_host: boots the real Debian 12 lab host under QEMU TCG and reaches it over SSH "
        "(tests/lab_host/host.py; about 4 min to build the cached image, 1 min its QEMU 10 "
        "root and 1 min mtty.ko once, then 10-17 minutes per run: issue 9's passthrough scenario with "
        "issue 19's SR-IOV and issue 21's mdev steps, two reboots); deselect with -m 'not lab_host'")
