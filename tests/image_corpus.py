"""Small disk images for the format-inspection tests, made by ``qemu-img`` or by hand.

Each case is (name, disk_format, container_format, builder); a builder writes the file and
returns its path. Valid images are made by ``qemu-img create``; the malicious ones are what
Glance's format inspection exists to refuse (backing and data files, a VMDK naming a host
file, a truncated header, data that is not its disk_format).
"""
import shutil
import subprocess

import pytest

QEMU_IMG = shutil.which("qemu-img")
ISO_TOOL = shutil.which("genisoimage") or shutil.which("xorriso") or shutil.which("mkisofs")
MIB = 1024 * 1024
RAW_BYTES = bytes(range(256)) * 4100 + b"tail"  # 1 MiB + 1028 bytes: last chunk partial

_PASSWD_VMDK = b"""# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="monolithicSparse"

# Extent description
RW 2048 FLAT "/etc/passwd" 0

# The Disk Data Base
#DDB
ddb.virtualHWVersion = "4"
"""


def qemu_img(*args):
    """Run qemu-img (skip the test when it is missing); return its stdout."""
    if not QEMU_IMG:
        pytest.skip("qemu-img is not installed")
    return subprocess.run([QEMU_IMG, *args], check=True, capture_output=True,
                          text=True).stdout


def _create(fmt, *opts, size="10M", name=None):
    def build(tmp):
        path = tmp / (name or f"disk.{fmt}")
        qemu_img("create", "-f", fmt, *opts, str(path), size)
        return path
    return build


def _raw(tmp):
    path = tmp / "disk.raw"
    path.write_bytes(RAW_BYTES)
    return path


def _qcow2_backing(tmp):
    base = _raw(tmp)
    path = tmp / "backed.qcow2"
    qemu_img("create", "-f", "qcow2", "-b", str(base), "-F", "raw", str(path))
    return path


def _qcow2_data_file(tmp):
    return _create("qcow2", "-o", f"data_file={tmp / 'external.raw'}",
                   name="datafile.qcow2")(tmp)


def _vmdk_passwd(tmp):
    path = tmp / "passwd.vmdk"
    path.write_bytes(_PASSWD_VMDK)
    return path


def _vmdk_sparse_passwd(tmp):
    # A real monolithicSparse VMDK whose embedded descriptor names /etc/passwd as extent.
    path = _create("vmdk", name="sparse.vmdk")(tmp)
    data = bytearray(path.read_bytes())
    start = data.index(b"# Disk DescriptorFile")
    end = data.index(b"\0", start)
    text = bytes(data[start:end]).replace(b'"sparse.vmdk"', b'"/etc/passwd"')
    assert b"/etc/passwd" in text
    data[start:start + len(text)] = text
    path.write_bytes(data)
    return path


def _vmdk_flat(tmp):
    # qemu-img writes the descriptor (disk.vmdk) and the extent (disk-flat.vmdk).
    return _create("vmdk", "-o", "subformat=monolithicFlat", size="1M", name="flat.vmdk")(tmp)


def _truncated_qcow2(tmp):
    path = _create("qcow2")(tmp)
    short = tmp / "truncated.qcow2"
    short.write_bytes(path.read_bytes()[:64])
    return short


def _minimal_iso(tmp, blocks=24):
    # NOTE: made by hand when no ISO tool is installed: an empty system area, an ISO 9660
    # primary volume descriptor (volume size, 2048-byte blocks) and the set terminator.
    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[80:88] = blocks.to_bytes(4, "little") + blocks.to_bytes(4, "big")
    pvd[128:132] = (2048).to_bytes(2, "little") + (2048).to_bytes(2, "big")
    terminator = b"\xffCD001\x01".ljust(2048, b"\0")
    path = tmp / "minimal.iso"
    path.write_bytes(bytes(16 * 2048) + pvd + terminator + bytes((blocks - 18) * 2048))
    return path


def _mbr(tmp, name, partitions=()):
    # NOTE: a boot sector by hand: the 0x55AA signature and up to four partition entries
    # (ostype, start LBA); 0xEE with start CHS 0/2/0 and LBA 1 is a GPT protective MBR.
    sector = bytearray(512)
    for i, (ostype, start_lba) in enumerate(partitions):
        pte = 446 + 16 * i
        sector[pte + 1:pte + 4] = b"\x00\x02\x00"
        sector[pte + 4] = ostype
        sector[pte + 8:pte + 16] = start_lba.to_bytes(4, "little") + (2047).to_bytes(4, "little")
    sector[510:512] = b"\x55\xaa"
    path = tmp / name
    path.write_bytes(bytes(sector) + bytes(2047 * 512))
    return path


def _gpt(tmp):
    return _mbr(tmp, "gpt.img", [(0xEE, 1)])


def _mbr_empty(tmp):
    return _mbr(tmp, "mbr-empty.img")


def _iso(tmp):
    if not ISO_TOOL:
        return _minimal_iso(tmp)
    src = tmp / "iso-src"
    src.mkdir()
    (src / "hello.txt").write_bytes(RAW_BYTES)
    path = tmp / "disk.iso"
    if ISO_TOOL.endswith("xorriso"):
        args = [ISO_TOOL, "-as", "mkisofs", "-o", str(path), str(src)]
    else:
        args = [ISO_TOOL, "-quiet", "-o", str(path), str(src)]
    subprocess.run(args, check=True, capture_output=True)
    return path


# name: (disk_format, container_format, builder)
CASES = {
    "qcow2": ("qcow2", "bare", _create("qcow2")),
    "vmdk": ("vmdk", "bare", _create("vmdk")),
    "vhd": ("vhd", "bare", _create("vpc")),
    "vhdx": ("vhdx", "bare", _create("vhdx")),
    "vdi": ("vdi", "bare", _create("vdi")),
    "raw": ("raw", "bare", _raw),
    "iso": ("iso", "bare", _iso),
    "qcow2-backing-file": ("qcow2", "bare", _qcow2_backing),
    "qcow2-data-file": ("qcow2", "bare", _qcow2_data_file),
    "vmdk-flat-descriptor": ("vmdk", "bare", _vmdk_flat),
    "vmdk-extent-etc-passwd": ("vmdk", "bare", _vmdk_passwd),
    "vmdk-sparse-extent-etc-passwd": ("vmdk", "bare", _vmdk_sparse_passwd),
    "qcow2-truncated-header": ("qcow2", "bare", _truncated_qcow2),
    "qcow2-as-raw": ("raw", "bare", _create("qcow2")),
    "raw-as-qcow2": ("qcow2", "bare", _raw),
    "qcow2-as-ami": ("ami", "bare", _create("qcow2")),
    "raw-as-ami": ("ami", "bare", _raw),
    "gpt-as-raw": ("raw", "bare", _gpt),
    "mbr-without-partitions-as-raw": ("raw", "bare", _mbr_empty),
    "gpt-as-aki": ("aki", "bare", _gpt),
    "qcow2-in-ovf": ("qcow2", "ovf", _create("qcow2")),
    "raw-as-qcow2-in-ovf": ("qcow2", "ovf", _raw),
}
# Formats whose virtual size qemu-img reports for the same file (qemu-img's name differs
# from Glance's for vhd: vpc).
QEMU_CHECKED = ("qcow2", "vmdk", "vhd", "vhdx", "vdi", "raw", "iso")


def build(name, tmp):
    """Write case ``name`` under ``tmp``; return (path, disk_format, container_format)."""
    disk_format, container_format, builder = CASES[name]
    return builder(tmp), disk_format, container_format


def qemu_virtual_size(path):
    """Return ``qemu-img info``'s virtual-size for the file at ``path``."""
    import json
    return json.loads(qemu_img("info", "--output", "json", str(path)))["virtual-size"]
