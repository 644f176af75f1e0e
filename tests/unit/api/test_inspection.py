"""glance_api.data.inspection: Glance 33's upload-time format decision, on qemu-img-made and
hand-made images (tests/image_corpus.py)."""
import types

import pytest

from glance_api import exceptions
from glance_api.data import inspection
from tests import image_corpus

CHUNK = 64 * 1024
SAFETY = "Image failed safety checks"


class ChunkSource:
    """A request body: fresh bytearray chunks, remembered so pass-through can be checked."""

    def __init__(self, data):
        self._data = data
        self._pos = 0
        self.handed_out = []

    def read(self, size=-1):
        chunk = bytearray(self._data[self._pos:self._pos + size])
        self._pos += len(chunk)
        self.handed_out.append(chunk)
        return chunk


def conf(require_match=True, nonfatal=()):
    return types.SimpleNamespace(require_image_format_match=require_match,
                                 gpt_safety_checks_nonfatal=list(nonfatal))


def decide(data, disk_format, container_format="bare", image_format=None):
    """Stream ``data`` through the wrapper as the store would; return the decision."""
    source = ChunkSource(data)
    reader = inspection.wrap({"container_format": container_format}, source) or source
    received = []
    while chunk := reader.read(CHUNK):
        received.append(chunk)
    # The store gets the very objects the body produced: no copies.
    assert all(a is b for a, b in zip(received, source.handed_out, strict=False))
    assert b"".join(received) == data
    wrapped = reader if reader is not source else None
    return inspection.virtual_size(wrapped, disk_format, image_format or conf())


def refusal(data, disk_format, **kwargs):
    with pytest.raises(exceptions.InvalidImageData) as info:
        decide(data, disk_format, **kwargs)
    assert isinstance(info.value, exceptions.UnsupportedMediaType)  # the 415 row
    return info.value.message


@pytest.fixture
def image(tmp_path):
    """Return a builder: corpus case name -> (bytes, path, disk_format)."""
    def build(name):
        path, disk_format, _ = image_corpus.build(name, tmp_path)
        return path.read_bytes(), path, disk_format
    return build


@pytest.mark.parametrize("name", ["qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "gpt-as-raw"])
def test_valid_image_records_qemu_img_virtual_size(image, name):
    data, path, disk_format = image(name)
    assert decide(data, disk_format) == image_corpus.qemu_virtual_size(path)


def test_raw_records_the_byte_count(image):
    data, _, _ = image("raw")
    assert decide(data, "raw") == len(data)


def test_empty_raw_records_no_virtual_size():
    assert decide(b"", "raw") is None


@pytest.mark.parametrize("name", ["qcow2-backing-file", "qcow2-data-file", "vmdk-flat-descriptor",
                                  "vmdk-sparse-extent-etc-passwd",
                                  "mbr-without-partitions-as-raw"])
def test_unsafe_image_is_refused(image, name):
    data, _, disk_format = image(name)
    assert refusal(data, disk_format) == SAFETY


def test_vmdk_text_descriptor_that_cannot_be_sized_is_refused(image):
    data, _, _ = image("vmdk-extent-etc-passwd")
    assert refusal(data, "vmdk") == "Image format inspection failed"


def test_truncated_header_is_not_its_format(image):
    data, _, _ = image("qcow2-truncated-header")
    assert refusal(data, "qcow2") == "Image disk_format qcow2 does not match stream data raw"


def test_raw_data_claiming_qcow2_is_refused(image):
    data, _, _ = image("raw")
    assert refusal(data, "qcow2") == "Image disk_format qcow2 does not match stream data raw"


def test_qcow2_data_claiming_raw_is_allowed_with_its_byte_count(image):
    data, _, _ = image("qcow2-as-raw")
    assert decide(data, "raw") == len(data)


def test_uninspectable_disk_format_takes_unrecognised_data_without_virtual_size(image):
    data, _, _ = image("raw-as-ami")
    assert decide(data, "ami") is None


def test_uninspectable_disk_format_refuses_a_recognised_format(image):
    data, _, _ = image("qcow2-as-ami")
    assert refusal(data, "ami") == "Image disk_format ami does not match stream data qcow2"


def test_aki_refuses_gpt_data_before_its_mbr_rule_applies(image):
    data, _, _ = image("gpt-as-aki")
    assert refusal(data, "aki") == "Image disk_format aki does not match stream data gpt"


@pytest.mark.parametrize("name", ["qcow2-backing-file", "raw-as-qcow2"])
def test_other_containers_are_not_inspected(image, name):
    data, _, disk_format = image(name)
    assert decide(data, disk_format, container_format="ovf") is None


def test_mismatch_without_require_image_format_match_records_no_virtual_size(image):
    data, _, _ = image("raw")
    assert decide(data, "qcow2", image_format=conf(require_match=False)) is None


def test_safety_checks_still_refuse_without_require_image_format_match(image):
    data, _, _ = image("qcow2-backing-file")
    assert refusal(data, "qcow2", image_format=conf(require_match=False)) == SAFETY


def test_nonfatal_gpt_check_lets_the_data_through(image):
    data, _, _ = image("mbr-without-partitions-as-raw")
    assert decide(data, "raw", image_format=conf(nonfatal=["mbr"])) == len(data)


def test_nonfatal_gpt_checks_do_not_apply_to_other_formats(image):
    data, _, _ = image("qcow2-backing-file")
    assert refusal(data, "qcow2", image_format=conf(nonfatal=["backing_file"])) == SAFETY


def test_iso_with_gpt_boot_sector_is_an_iso(tmp_path):
    iso = image_corpus.build("iso", tmp_path)[0].read_bytes()
    mbr = image_corpus.build("gpt-as-raw", tmp_path)[0].read_bytes()[:512]
    data = mbr + iso[512:]
    assert decide(data, "iso") == len(iso)


def test_two_formats_at_once_are_refused(tmp_path):
    # An ISO volume descriptor hidden in the unused rest of a qcow2 header cluster.
    qcow2 = bytearray(image_corpus.build("qcow2", tmp_path)[0].read_bytes())
    iso = image_corpus.build("iso", tmp_path)[0].read_bytes()
    assert not any(qcow2[32768:36864])
    qcow2[32768:36864] = iso[32768:36864]
    message = refusal(bytes(qcow2), "qcow2")
    assert message.startswith("Multiple formats detected: ")
    assert sorted(message.split(": ")[1].split(",")) == ["iso", "qcow2"]
