# Copyright: virt.hostdev contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-ins for the types ansible-core 2.19 hands a plugin (templated dicts and lists, tagged values):
subclasses of the plain types with ansible-core's names, so a test sees that no message names them."""


class _AnsibleLazyTemplateDict(dict):
    pass


class _AnsibleLazyTemplateList(list):
    pass


class _AnsibleTaggedStr(str):
    pass


class _AnsibleTaggedInt(int):
    pass
