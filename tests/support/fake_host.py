# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fake hosts for the preparing modules: filesystem roots laid out like a Debian host (GRUB,
initramfs-tools), a RHEL host (grubby, dracut) and a systemd-boot host, and fake tools on a
PATH of their own that record how they were called.

Every tool the modules may run has a fake here, so a test never reaches the real
update-grub, grubby, kernel-install, update-initramfs, dracut or modprobe of the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

TOOLS = ('update-grub', 'grub-mkconfig', 'grub2-mkconfig', 'grubby', 'kernel-install',
         'update-initramfs', 'dracut', 'modprobe')

# A tool: records its argv as one JSON line in $FAKE_LOG, then does what its name says
# to the fake root in $FAKE_ROOT (grubby keeps its boot entries in $FAKE_ROOT/grubby.json, updates
# those --update-kernel names, ALL or by kernel path, and, as the real one, replaces an argument of
# the same key; FAKE_GRUBBY_SUBSTRING_KEYS matches keys as an early grubby-bls did,
# FAKE_GRUBBY_UPDATES_OK=N fails every update after the first N, FAKE_GRUBBY_FAIL_UPDATE=N fails only
# update N; FAKE_FAIL=NAME fails that tool, FAKE_FAIL_WITH=ARG any tool given ARG).
# update-grub and grub-mkconfig source /etc/default/grub and /etc/default/grub.d/*.cfg
# with /bin/sh as the real ones do (failing when the shell cannot) and write grub.cfg's linux line
# from GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT (not with FAKE_GRUB_CFG_KEPT).
# update-initramfs and dracut build a fake initramfs when FAKE_INITRAMFS_INPUTS names its inputs
# (host paths, os.pathsep between them): as a real generator, they work FAKE_INITRAMFS_SECONDS, read
# the inputs, work as long again, then replace $FAKE_ROOT/boot/fake-initramfs.json at once; it holds
# {path: text or null}.
TOOL_SCRIPT = r'''#!%(python)s
import json, os, re, sys, time
name = os.path.basename(sys.argv[0])
with open(os.environ['FAKE_LOG'], 'a') as log:
    log.write(json.dumps([name] + sys.argv[1:]) + '\n')
root = os.environ.get('FAKE_ROOT', '/nonexistent')
fail = os.environ.get('FAKE_FAIL', '')
if name == fail or os.environ.get('FAKE_FAIL_WITH', '\0') in sys.argv[1:]:
    sys.stderr.write('%%s: simulated failure\n' %% name)
    sys.exit(3)
if name in ('update-initramfs', 'dracut') and os.environ.get('FAKE_INITRAMFS_INPUTS'):
    time.sleep(float(os.environ.get('FAKE_INITRAMFS_SECONDS', '0')))
    held = {}
    for path in os.environ['FAKE_INITRAMFS_INPUTS'].split(os.pathsep):
        try:
            with open(os.path.join(root, path.lstrip('/'))) as source:
                held[path] = source.read()
        except FileNotFoundError:
            held[path] = None
    time.sleep(float(os.environ.get('FAKE_INITRAMFS_SECONDS', '0')))
    image = os.path.join(root, 'boot', 'fake-initramfs.json')
    os.makedirs(os.path.dirname(image), exist_ok=True)
    with open('%%s.%%d' %% (image, os.getpid()), 'w') as new_image:
        json.dump(held, new_image)
    os.replace('%%s.%%d' %% (image, os.getpid()), image)
elif name in ('update-grub', 'grub-mkconfig', 'grub2-mkconfig'):
    import subprocess
    output = sys.argv[sys.argv.index('-o') + 1] if '-o' in sys.argv else '/boot/grub/grub.cfg'
    script = ('. "$1/etc/default/grub" && for f in "$1"/etc/default/grub.d/*.cfg; do '
              'if [ -e "$f" ]; then . "$f" || exit 1; fi; done && '
              'printf "%%s\\n" "$GRUB_CMDLINE_LINUX $GRUB_CMDLINE_LINUX_DEFAULT"')
    sourced = subprocess.run(['/bin/sh', '-c', script, 'sh', root], capture_output=True, text=True)
    if sourced.returncode != 0:
        sys.stderr.write('%%s: /etc/default/grub: %%s' %% (name, sourced.stderr))
        sys.exit(1)
    if not os.environ.get('FAKE_GRUB_CFG_KEPT'):
        cfg = os.path.join(root, output.lstrip('/'))
        os.makedirs(os.path.dirname(cfg), exist_ok=True)
        with open(cfg, 'w') as handle:
            handle.write("menuentry 'Debian GNU/Linux' {\n\tlinux\t/boot/vmlinuz root=/dev/vda1 ro %%s}\n"
                         %% sourced.stdout)
elif name == 'modprobe':
    for module in [arg for arg in sys.argv[1:] if not arg.startswith('-')]:
        os.makedirs(os.path.join(root, 'sys', 'module', module.replace('-', '_')), exist_ok=True)
elif name == 'grubby':
    state = os.path.join(root, 'grubby.json')
    entries = json.load(open(state))
    if sys.argv[1:] == ['--info=ALL']:
        for index, (kernel, args) in enumerate(entries):
            print('index=%%d\nkernel="%%s"\nargs="%%s"\nroot="/dev/vda2"\ninitrd="/boot/initramfs.img"'
                  %% (index, kernel, args))
        sys.exit(0)
    options = dict(arg.split('=', 1) for arg in sys.argv[1:] if '=' in arg)
    if os.environ.get('FAKE_GRUBBY_IGNORES'):
        sys.exit(0)
    updates = os.path.join(root, 'grubby.updates')  # one dot per update so far
    with open(updates, 'a+') as counter:
        counter.seek(0)
        done = len(counter.read())
        counter.write('.')
    if done >= int(os.environ.get('FAKE_GRUBBY_UPDATES_OK', '1000')) or \
            done + 1 == int(os.environ.get('FAKE_GRUBBY_FAIL_UPDATE', '0')):
        sys.stderr.write('grubby: simulated failure of update %%d\n' %% (done + 1))
        sys.exit(3)
    target = options.get('--update-kernel')
    for entry in entries:
        if target != 'ALL' and entry[0] != target:
            continue
        tokens = entry[1].split()
        for gone in options.get('--remove-args', '').split():
            tokens = [token for token in tokens
                      if token != gone and ('=' in gone or token.split('=')[0] != gone)]
        for new in options.get('--args', '').split():
            if os.environ.get('FAKE_GRUBBY_SUBSTRING_KEYS'):
                # as rhboot's early grubby-bls: a key found anywhere in the line (iommu= in
                # intel_iommu=on) has its first match replaced
                line = ' '.join(tokens)
                key = new.split('=')[0]
                if '=' in new and key + '=' in line:
                    line = re.sub(re.escape(key) + '=[^ ]*', lambda match: new, line, count=1)
                else:
                    line += ' ' + new
                tokens = line.split()
                continue
            keys = [token.split('=')[0] for token in tokens]
            if new.split('=')[0] in keys:
                tokens[keys.index(new.split('=')[0])] = new
            else:
                tokens.append(new)
        entry[1] = ' '.join(tokens)
    new = '%%s.%%d' %% (state, os.getpid())
    with open(new, 'w') as new_state:  # replaced at once, as sed -i replaces a BLS entry
        json.dump(entries, new_state)
    os.replace(new, state)
'''


class FakeTools:
    """A directory of fake tools and the log of their calls."""

    def __init__(self, directory, root, tools=TOOLS):
        self.bin = os.path.join(str(directory), 'bin')
        self.log = os.path.join(str(directory), 'tools.log')
        self.root = str(root)
        os.makedirs(self.bin, exist_ok=True)
        for name in tools:
            self.add(name)
        # timeout(1) and sh are the real ones: the modules run every command under timeout, and
        # check GRUB's files with sh -n
        os.symlink(shutil.which('timeout') or '/usr/bin/timeout', os.path.join(self.bin, 'timeout'))
        os.symlink('/bin/sh', os.path.join(self.bin, 'sh'))
        open(self.log, 'w').close()

    def add(self, name):
        path = os.path.join(self.bin, name)
        with open(path, 'w') as handle:
            handle.write(TOOL_SCRIPT % {'python': sys.executable})
        os.chmod(path, 0o755)

    def remove(self, name):
        os.unlink(os.path.join(self.bin, name))

    def calls(self):
        with open(self.log) as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def clear(self):
        open(self.log, 'w').close()

    def env(self, **extra):
        """The environment of a run: PATH holds the fake tools only, so no real one is ever found
        through it (an AnsibleModule also searches the sbin directories, after PATH)."""
        env = {'PATH': self.bin, 'FAKE_LOG': self.log, 'FAKE_ROOT': self.root}
        env.update(extra)
        return env

    def use_in(self, monkeypatch):
        """Set env() in the test's environment (an in-process module run sees only the fake tools);
        returns self."""
        for name, value in self.env().items():
            monkeypatch.setenv(name, value)
        return self

    def commands(self, **extra):
        """A Commands that finds only the fake tools (and timeout) and runs them in this environment."""
        from ansible_collections.virt.hostdev.plugins.module_utils.host_files import Commands

        env = dict(os.environ, **self.env(**extra))

        def run_command(argv, data=None, binary_data=False):
            completed = subprocess.run(argv, input=data, capture_output=True, text=True, env=env, check=False)
            return completed.returncode, completed.stdout, completed.stderr

        def get_bin_path(name):
            for directory in env['PATH'].split(os.pathsep):
                path = os.path.join(directory, name)
                if os.access(path, os.X_OK):
                    return path
            return None

        return Commands(run_command, get_bin_path)


def write(root, path, text, mode=0o644):
    full = os.path.join(str(root), path.lstrip('/'))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'w') as handle:
        handle.write(text)
    os.chmod(full, mode)
    return full


def read(root, path):
    with open(os.path.join(str(root), path.lstrip('/'))) as handle:
        return handle.read()


INTEL_CPUINFO = 'processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n'
AMD_CPUINFO = 'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n'

DEBIAN_GRUB = '''# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.

GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet  intel_iommu=off"
GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"

# Uncomment to disable graphical terminal
#GRUB_TERMINAL=console
#GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"
'''


def debian_root(root, grub=DEBIAN_GRUB, cmdline='BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-amd64 root=/dev/vda1 ro '
                'console=ttyS0,115200n8 quiet intel_iommu=off\n', cpuinfo=INTEL_CPUINFO):
    """A Debian host's boot files under root (an existing tree, such as the sample host's, or a new one)."""
    write(root, '/etc/default/grub', grub)
    write(root, '/proc/cmdline', cmdline)
    write(root, '/proc/cpuinfo', cpuinfo)
    os.makedirs(os.path.join(str(root), 'etc', 'initramfs-tools', 'hooks'), exist_ok=True)
    return str(root)


def rhel_root(root, entries=(('/boot/vmlinuz-5.14.0-427.el9.x86_64', 'ro crashkernel=auto rhgb quiet'),
                             ('/boot/vmlinuz-5.14.0-362.el9.x86_64', 'ro crashkernel=auto rhgb quiet iommu=off')),
              cmdline='BOOT_IMAGE=(hd0,gpt2)/vmlinuz-5.14.0-427.el9.x86_64 ro crashkernel=auto rhgb quiet\n'):
    """A RHEL host: boot entries kept by the fake grubby, dracut's configuration directory."""
    write(root, '/grubby.json', json.dumps([list(entry) for entry in entries]))
    for kernel, _args in entries:
        name = os.path.basename(kernel)
        write(root, '/boot/loader/entries/%s.conf' % name, 'title %s\nlinux %s\n' % (name, kernel))
    write(root, '/etc/default/grub', 'GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="crashkernel=auto rhgb quiet"\n')
    write(root, '/proc/cmdline', cmdline)
    write(root, '/proc/cpuinfo', AMD_CPUINFO)
    os.makedirs(os.path.join(str(root), 'etc', 'dracut.conf.d'), exist_ok=True)
    return str(root)


def systemd_boot_root(root, cmdline_file='root=UUID=1234 rw quiet\n', kernels=('6.8.0-1', '6.9.2-1')):
    """A systemd-boot host: /etc/kernel/cmdline (unless None) and kernels in /usr/lib/modules."""
    if cmdline_file is not None:
        write(root, '/etc/kernel/cmdline', cmdline_file)
    for version in kernels:
        write(root, '/usr/lib/modules/%s/vmlinuz' % version, 'kernel')
    write(root, '/proc/cmdline', 'initrd=\\initrd.img root=UUID=1234 rw quiet\n')
    write(root, '/proc/cpuinfo', INTEL_CPUINFO)
    return str(root)
