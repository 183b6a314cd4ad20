"""hostdev_facts end to end: ansible-playbook on localhost, the test driver and a real libvirtd."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from fixtures.sample_host import TEST_URI

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'playbooks')


def run_cases(run_playbook, directory, cases, check=False, interpreter=None):
    """{name: (result, ansible_facts.hostdev)} of hostdev_facts run with each case's options ({name: options}),
    all in one run of facts_cases.yml (writing into directory)."""
    listed = [{'name': name, 'options': options, 'out': os.path.join(str(directory), '%s.json' % name)}
              for name, options in cases.items()]
    extra = {'facts_cases': listed}
    if interpreter:
        extra['ansible_python_interpreter'] = interpreter
    completed = run_playbook(os.path.join(PLAYBOOKS, 'facts_cases.yml'), extra_vars=extra, check=check)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    recorded = {}
    for case in listed:
        with open(case['out'], encoding='utf-8') as handle:
            data = json.load(handle)
        recorded[case['name']] = (data['result'], data['hostdev'])
    return recorded


@pytest.fixture()
def facts(run_playbook, tmp_path):
    """Run hostdev_facts with the given options; return (result, ansible_facts.hostdev)."""
    def run(check=False, interpreter=None, **options):
        return run_cases(run_playbook, tmp_path, {'case': options}, check, interpreter)['case']
    return run


@pytest.fixture(scope='module')
def sample_cases(sample_sysfs, tmp_path_factory):
    """The runs of the tests below that need nothing but the sample host, made in one playbook run:
    {name: (result, ansible_facts.hostdev, options)}."""
    from support import run_playbook
    work = tmp_path_factory.mktemp('facts-cases')
    libvirt = {'uri': TEST_URI, 'source': 'libvirt'}
    unreachable = 'qemu:///system?socket=%s/absent' % work
    cases = {
        'sample': dict(libvirt, sysfs_root=sample_sysfs),
        'pci_passthrough': dict(libvirt, sysfs_root=sample_sysfs, cap='pci', passthrough=True),
        'usb_device': dict(libvirt, cap='usb_device'),
        'affected_by': dict(libvirt, affected_by='pci_0000_04_00_0'),
        'affected_by_and_cap': dict(libvirt, affected_by='pci_0000_04_00_0', cap='pci'),
        'affected_by_and_passthrough': dict(libvirt, affected_by='pci_0000_04_00_0', passthrough=False),
        'unknown_affected_by': dict(libvirt, affected_by='pci_0000_99_00_0'),
        'sysfs': {'source': 'sysfs', 'sysfs_root': sample_sysfs},
        'unreachable': {'uri': unreachable, 'source': 'libvirt'},
        'unreachable_auto': {'uri': unreachable, 'source': 'auto', 'sysfs_root': '/sys'},
    }
    recorded = run_cases(run_playbook, work, cases)
    return dict((name, recorded[name] + (options,)) for name, options in cases.items())


def test_sample_host_facts(sample_cases):
    result, hostdev, _options = sample_cases['sample']
    assert result['changed'] is False and not result.get('failed')
    assert hostdev['source'] == 'libvirt'
    names = [device['name'] for device in hostdev['devices']]
    assert result['devices'] == names == sorted(names)
    assert len(names) == 36
    assert hostdev['iommu']['enabled'] is True and hostdev['iommu']['groups'] == 10
    assert hostdev['iommu']['kernel_args']['intel_iommu'] == 'on'
    assert hostdev['iommu']['interrupt_remapping'] is True
    groups = dict((group['number'], group['devices']) for group in hostdev['iommu_groups'])
    assert groups[1] == ['pci_0000_00_01_0', 'pci_0000_01_00_0', 'pci_0000_01_00_1']
    assert groups[9] == ['pci_0000_00_1f_0', 'pci_0000_00_1f_3', 'pci_0000_00_1f_4']
    by_name = dict((device['name'], device) for device in hostdev['devices'])
    assert by_name['pci_0000_02_00_0']['assigned_to'] == ['ci-runner']
    assert by_name['pci_0000_00_1f_4']['passthrough'] == {'eligible': False, 'reasons': ['pci_smbus']}
    assert by_name['pci_0000_00_02_0']['passthrough'] == {'eligible': True, 'reasons': []}
    assert by_name['usb_1_3']['iommu_group'] == 3
    assert by_name['scsi_target6_0_0']['parent'] == 'scsi_host6'
    assert by_name['block_sdb_CT500MX500SSD1_2113E5901234']['host_use'] == [
        'mounted at /', 'mounted at /boot/efi', 'swap']
    assert by_name['block_sda_Samsung_SSD_870_EVO_1TB_S6PTNS0T123456A']['host_use'] == []
    assert any('scsi_host6' in warning for warning in result['warnings'])


def test_capability_and_passthrough_filters(sample_cases):
    result = sample_cases['pci_passthrough'][0]
    assert result['devices'] == [
        'pci_0000_00_02_0', 'pci_0000_00_14_0', 'pci_0000_00_17_0', 'pci_0000_00_1f_3', 'pci_0000_01_00_0',
        'pci_0000_01_00_1', 'pci_0000_02_00_0', 'pci_0000_04_00_0', 'pci_0000_04_01_0']
    result = sample_cases['usb_device'][0]
    assert result['devices'] == ['usb_1_3', 'usb_usb1', 'usb_usb2']


def test_affected_by(sample_cases):
    result = sample_cases['affected_by'][0]
    assert result['devices'] == ['net_enp4s0_00_1b_21_00_00_40', 'net_enp4s1_00_1b_21_00_00_41',
                                 'pci_0000_03_00_0', 'pci_0000_04_01_0']


@pytest.mark.parametrize('case', ['affected_by_and_cap', 'affected_by_and_passthrough'])
def test_affected_by_conflicts_with_other_filters(sample_cases, case):
    result, hostdev, _options = sample_cases[case]
    assert result['failed'] is True
    assert 'mutually exclusive' in result['msg'] and 'affected_by' in result['msg']
    assert hostdev is None


def test_unknown_affected_by_names_the_device(sample_cases):
    result = sample_cases['unknown_affected_by'][0]
    assert result['failed'] is True
    assert result['msg'] == ("device reference 'pci_0000_99_00_0' is not a node device name, a PCI address, a USB "
                             "vendor:product, a USB bus.device or a mediated device UUID known on this host")
    # ansible-core 2.19 adds an 'exception' placeholder to every failure; no traceback may be in it.
    assert 'Traceback' not in json.dumps(result)


def test_check_mode_gives_the_same_facts(facts, sample_cases):
    normal, normal_facts, options = sample_cases['sample']
    checked, checked_facts = facts(check=True, **options)
    assert checked['changed'] is False
    assert checked_facts == normal_facts
    assert checked['devices'] == normal['devices']


def test_sysfs_source_on_the_sample_tree(sample_cases):
    result, hostdev, _options = sample_cases['sysfs']
    assert hostdev['source'] == 'sysfs'
    assert 'scsi_target6_0_0' not in result['devices']
    assert len(result['devices']) == 36


def test_unreachable_daemon_is_named(sample_cases):
    result, _hostdev, options = sample_cases['unreachable']
    assert result['failed'] is True
    assert result['msg'].startswith('cannot connect to libvirt at %s: ' % options['uri'])
    result, hostdev, _options = sample_cases['unreachable_auto']
    assert not result.get('failed') and hostdev['source'] == 'sysfs'
    assert any('read devices from sysfs instead' in warning for warning in result['warnings'])


def test_another_hosts_tree_beside_a_daemon_that_answers_is_read_alone(run_playbook, libvirtd, sample_sysfs, tmp_path):
    """One machine per run: this machine's libvirtd answers, sysfs_root is a copy of the sample host.
    The devices once came from the daemon and the IOMMU state from the copy: the copy's GPU was missing."""
    recorded = run_cases(run_playbook, tmp_path, {'auto': {'uri': libvirtd, 'source': 'auto', 'sysfs_root': sample_sysfs},
                                                  'libvirt': {'uri': libvirtd, 'source': 'libvirt', 'sysfs_root': sample_sysfs}})
    result, hostdev = recorded['auto']
    assert not result.get('failed') and hostdev['source'] == 'sysfs'
    assert 'pci_0000_01_00_0' in result['devices'] and len(result['devices']) == 36
    assert hostdev['iommu']['groups'] == 10
    result = recorded['libvirt'][0]
    assert result['failed'] is True
    assert result['msg'] == (
        "source libvirt reads this machine's devices from %s, but sysfs_root %s is not this machine's /sys: the "
        "devices would come from one machine and the IOMMU state and what the host runs on from another. Set "
        "source: sysfs to read %s alone, or leave sysfs_root out to read this machine"
        % (libvirtd, sample_sysfs, sample_sysfs))


def test_a_snapshot_without_mounts_blocks_every_device(facts, tmp_path, sample_sysfs):
    """No proc/mounts: what the host runs on is unknown, never 'nothing'."""
    copy = tmp_path / 'snap'
    shutil.copytree(os.path.dirname(sample_sysfs), str(copy), symlinks=True)
    os.remove(str(copy / 'proc' / 'mounts'))
    result, hostdev = facts(source='sysfs', sysfs_root=str(copy / 'sys'))
    assert not result.get('failed') and hostdev['assignable'] == []
    assert all('host_use_unknown' in device['blockers'] for device in hostdev['devices'])
    assert any('what the host itself runs on is unknown: %s/proc/mounts cannot be read' % copy in warning
               for warning in result['warnings'])


def test_missing_libvirt_binding(run_playbook, tmp_path, sample_sysfs):
    # An interpreter on which `import libvirt` fails, as on a host without the binding.
    hide = tmp_path / 'hide'
    hide.mkdir()
    (hide / 'libvirt.py').write_text("raise ImportError('No module named libvirt')\n")
    interpreter = tmp_path / 'python-without-libvirt'
    interpreter.write_text('#!/bin/sh\nPYTHONPATH=%s exec %s "$@"\n' % (hide, sys.executable))
    interpreter.chmod(0o755)
    recorded = run_cases(run_playbook, tmp_path, {
        'libvirt': {'uri': TEST_URI, 'source': 'libvirt'},
        'auto': {'uri': 'qemu:///system', 'source': 'auto', 'sysfs_root': sample_sysfs},
        'auto_test_driver': {'uri': TEST_URI, 'source': 'auto', 'sysfs_root': sample_sysfs},
    }, interpreter=str(interpreter))
    result = recorded['libvirt'][0]
    assert result['failed'] is True
    assert 'Failed to import the required Python library (libvirt-python)' in result['msg']
    result, hostdev = recorded['auto']
    assert hostdev['source'] == 'sysfs'
    assert any('binding is not installed' in warning for warning in result['warnings'])
    # The test driver (like a remote URI) describes another machine: never this one's sysfs instead.
    result = recorded['auto_test_driver'][0]
    assert result['failed'] is True
    assert 'Failed to import the required Python library (libvirt-python)' in result['msg']


def test_ansible_doc_renders_the_module():
    ansible_doc = os.path.join(os.path.dirname(sys.executable), 'ansible-doc')
    completed = subprocess.run([ansible_doc, 'virt.hostdev.hostdev_facts'], capture_output=True, text=True,
                               check=False)
    assert completed.returncode == 0, completed.stderr
    for word in ('affected_by', 'passthrough', 'sysfs_root', 'iommu_groups', 'pci_smbus', 'EXAMPLES'):
        assert word in completed.stdout


def test_real_libvirtd_and_sysfs_agree_on_this_machine(run_playbook, libvirtd, tmp_path):
    out = tmp_path / 'both.json'
    completed = run_playbook(os.path.join(PLAYBOOKS, 'facts_compare_readers.yml'),
                             extra_vars={'facts_uri': libvirtd, 'out': str(out)})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    both = json.loads(out.read_text())
    via_libvirt = dict((device['name'], device) for device in both['libvirt']['devices'])
    via_sysfs = dict((device['name'], device) for device in both['sysfs']['devices'])
    # Without udev, libvirt lists no usb_device or storage; compare what both list.
    compared = ('pci', 'net', 'scsi', 'scsi_host', 'scsi_target')
    libvirt_names = sorted(name for name, device in via_libvirt.items() if device['type'] in compared)
    sysfs_names = sorted(name for name, device in via_sysfs.items() if device['type'] in compared)
    assert libvirt_names == sysfs_names
    assert any(name.startswith('pci_') for name in libvirt_names)
    for name in libvirt_names:
        for key in ('type', 'parent', 'path', 'driver', 'iommu_group', 'passthrough'):
            assert via_libvirt[name][key] == via_sysfs[name][key], (name, key)
        if via_libvirt[name]['type'] == 'pci':
            for key in ('address', 'class', 'vendor_id', 'product_id', 'iommu_group', 'numa_node', 'boot_vga'):
                assert via_libvirt[name]['pci'][key] == via_sysfs[name]['pci'][key], (name, key)
    assert both['libvirt']['iommu'] == both['sysfs']['iommu']


def test_howto_conditions_example_on_the_sample_host(run_playbook, sample_sysfs, tmp_path):
    """docs/examples/iommu_conditions.yml gives the right answers for the sample workstation."""
    example = os.path.join(os.path.dirname(os.path.dirname(PLAYBOOKS)), '..', 'docs', 'examples',
                           'iommu_conditions.yml')
    out = tmp_path / 'answers.json'
    completed = run_playbook(os.path.abspath(example), extra_vars={
        'iommu_conditions_uri': TEST_URI, 'iommu_conditions_source': 'libvirt',
        'iommu_conditions_sysfs_root': sample_sysfs, 'iommu_conditions_out': str(out)})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    answers = json.loads(out.read_text())
    # tests/fixtures/sample_host/host.xml: group 1 = root port 00:01.0 + RTX A4000 01:00.0 (nvidia) + its
    # audio 01:00.1 (snd_hda_intel); group 2 = the integrated 3D controller 00:02.0 alone; group 8 = a
    # PCIe-to-PCI bridge + two e1000 NICs in slots 04:00 and 04:01; group 9 = ISA bridge + PCH audio + SMBus
    # (slot 00:1f); the I225-V 02:00.0 is held by the domain ci-runner; the root disk hangs below the SATA.
    assert answers == {
        'lonely_gpus': ['pci_0000_00_02_0'],
        'gpus_within_slot': ['pci_0000_00_02_0', 'pci_0000_01_00_0'],
        'device_within_slot': True,
        'device_alone': False,
        'siblings': ['pci_0000_01_00_1'],                  # the root port is a bridge
        'siblings_on_host_drivers': ['pci_0000_01_00_1'],  # on snd_hda_intel
        'device_driver': 'nvidia',
        'group_1_endpoints': ['pci_0000_01_00_0', 'pci_0000_01_00_1'],
        'assignable_gpus': ['pci_0000_00_02_0'],           # the A4000's audio function is on a host driver
        'assignable_nics': [],                             # ci-runner holds the I225-V; the e1000s share group 8
        'assignable_usb_controllers': ['pci_0000_00_14_0'],
        'free_nics': ['pci_0000_04_00_0', 'pci_0000_04_01_0'],
        'mixed_groups': [9],                               # the PCH audio with the SMBus controller
        'eligible_pci': ['pci_0000_00_02_0', 'pci_0000_00_14_0', 'pci_0000_00_17_0', 'pci_0000_00_1f_3',
                         'pci_0000_01_00_0', 'pci_0000_01_00_1', 'pci_0000_02_00_0', 'pci_0000_04_00_0',
                         'pci_0000_04_01_0'],
        'affected': ['pci_0000_00_01_0', 'pci_0000_01_00_1'],
    }


# -- a facts module: inside gather_facts ----------------------------------------------------

GATHER = os.path.join(PLAYBOOKS, 'facts_gather.yml')
FACTS_MODULES = ['ansible.builtin.setup', 'virt.hostdev.hostdev_facts']


@pytest.mark.parametrize('form', ['full', 'compact'])
@pytest.mark.parametrize('enabled_by', ['variable', 'environment'])
def test_gather_facts_runs_setup_and_hostdev_facts_in_one_step(run_playbook, sample_sysfs, sample_facts, tmp_path,
                                                               form, enabled_by):
    out = tmp_path / 'facts.json'
    extra = {'out': str(out), 'facts_source': 'sysfs', 'facts_sysfs_root': sample_sysfs, 'facts_form': form}
    env = {}
    if enabled_by == 'variable':
        extra['ansible_facts_modules'] = FACTS_MODULES
    else:
        env['ANSIBLE_FACTS_MODULES'] = ','.join(FACTS_MODULES)
    completed = run_playbook(GATHER, extra_vars=extra, env=env)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert re.findall(r'^TASK \[(.*)\]', completed.stdout, re.M) == ['Gathering Facts', 'Record the facts']
    assert 'Not passing' not in output and 'WARNING' not in output
    facts = json.loads(out.read_text())
    assert facts['gather_subset'] == ['min'] and facts['distribution'] and facts['python_version']  # setup's
    assert 'devices' not in facts  # hostdev_facts' result beside its facts stays out of them
    assert facts['hostdev'] == sample_facts(form)


def test_gather_facts_without_options_reads_this_machine(run_playbook, tmp_path):
    """No option at all, as gather_facts calls a facts module without module_defaults: /sys here."""
    out = tmp_path / 'facts.json'
    completed = run_playbook(GATHER, extra_vars={'out': str(out), 'ansible_facts_modules': ['virt.hostdev.hostdev_facts']})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    facts = json.loads(out.read_text())
    assert facts['hostdev']['source'] in ('libvirt', 'sysfs') and 'eligible' in facts['hostdev']
    assert 'gather_subset' not in facts  # setup did not run


def test_virtual_functions_example_on_a_synthetic_sriov_host(run_playbook, tmp_path):
    """docs/examples/virtual_functions.yml on two igb PFs of four VFs each, VF 1 of the first held by a domain
    as an <interface type='hostdev'>; read with source: sysfs from a copy of a tree, so the settings the PFs
    give their VFs are unknown (a warning), never guessed."""
    from fixtures.synthetic_host import synthetic_sriov_sysfs
    root = synthetic_sriov_sysfs(str(tmp_path / 'host'), pfs=2, vfs=4)
    os.makedirs(str(tmp_path / 'host' / 'etc' / 'libvirt' / 'qemu'))
    (tmp_path / 'host' / 'etc' / 'libvirt' / 'qemu' / 'vm.xml').write_text(
        "<domain type='kvm'><name>vm</name><devices><interface type='hostdev' managed='yes'><source>"
        "<address type='pci' domain='0' bus='0x81' slot='0x10' function='0x1'/></source></interface>"
        "</devices></domain>")
    example = os.path.join(os.path.dirname(os.path.dirname(PLAYBOOKS)), '..', 'docs', 'examples',
                           'virtual_functions.yml')
    out = tmp_path / 'answers.json'
    completed = run_playbook(os.path.abspath(example), extra_vars={
        'virtual_functions_source': 'sysfs', 'virtual_functions_sysfs_root': root,
        'virtual_functions_out': str(out)})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert 'the MAC, VLAN and link settings of 8 virtual functions' in completed.stdout + completed.stderr
    # compact facts: the PF's VFs are rows of its table; their links unknown here (a copy of a tree)
    vf_ids = {'class': '0x020000', 'vendor_id': '0x8086', 'product_id': '0x10ca', 'subsystem_vendor_id': None,
              'subsystem_id': None}
    rows = [[vf, '0000:81:10.%d' % vf, 'igbvf', 2 + vf, None, None, [], []] for vf in range(4)]
    rows[1][6:] = [['vm'], ['assigned_elsewhere']]
    assert json.loads(out.read_text()) == {
        'pf_sriov': {'totalvfs': 7, 'numvfs': 4, 'physical_function': None, 'vf_index': None, 'link': None,
                     'vfs': {'columns': ['vf_index', 'address', 'driver', 'iommu_group', 'mac', 'vlan', 'assigned_to',
                                         'blockers'], 'pci': vf_ids, 'rows': rows}},
        'pf_blockers': ['has_virtual_functions'],
        'free_vfs': ['pci_0000_81_10_0', 'pci_0000_81_10_2', 'pci_0000_81_10_3'],
        'held_vfs': ['pci_0000_81_10_1'],
        'vf_3': ['pci_0000_81_10_3'],
        'tagged_vfs': [],
    }
