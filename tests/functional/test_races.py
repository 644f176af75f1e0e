"""Requests racing on one resource answer as Glance 33 does, never with registry wording.

Glance's image delete and deactivate save without a compare-and-swap, so overlapping
requests all succeed; ours use one (docs/internals.md), and the loser used to show its
"cannot transition from ... (wanted from_state=...)" text as a 409. Creating one new
resource type from several requests at once used to show "Database error: IntegrityError".
Each burst starts its threads together on a barrier and is repeated, since one burst may
happen not to overlap.
"""
import functools
import threading
import uuid

import pytest

BURSTS = 3
THREADS = 6


def burst(calls):
    """Run the callables at the same moment; return their responses in order."""
    out = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i):
        start.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return out


def _not_found(image_id):
    return {"message": "Failed to find image %s to delete<br /><br />\n\n\n" % image_id,
            "code": "404 Not Found", "title": "Not Found"}


@pytest.mark.parametrize("with_data", [True, False], ids=["active", "queued"])
def test_concurrent_deletes_each_succeed(stack, user, with_data):
    for _ in range(BURSTS):
        if with_data:
            image = user.create_active(b"racing delete")
        else:
            image = user.create_image(disk_format="raw", container_format="bare")
        url = "/v2/images/" + image["id"]
        answers = burst([functools.partial(user.delete, url)] * THREADS)
        # NOTE: a delete whose lookup came after another finished is Glance's 404.
        for resp in answers:
            assert resp.status_code in (204, 404), resp.text
            if resp.status_code == 404:
                assert resp.json() == _not_found(image["id"])
        assert any(resp.status_code == 204 for resp in answers)
        after = user.delete(url)
        assert (after.status_code, after.json()) == (404, _not_found(image["id"]))
        assert stack.stored_files(image["id"]) == []


def test_deactivate_racing_delete(admin):
    for _ in range(BURSTS):
        image = admin.create_active(b"racing deactivate")
        url = "/v2/images/" + image["id"]
        answers = burst([functools.partial(admin.delete, url),
                         functools.partial(admin.post, url + "/actions/deactivate")]
                        * (THREADS // 2))
        for resp in answers[::2]:   # the deletes
            assert resp.status_code in (204, 404), resp.text
        for resp in answers[1::2]:  # the deactivations: done, or Glance's refusal
            if resp.status_code == 204:
                continue
            body = resp.json()
            assert resp.status_code in (403, 404), resp.text
            assert body["message"] in (
                "Not allowed to deactivate image in status 'pending_delete'<br /><br />\n\n\n",
                "Not allowed to deactivate image in status 'deleted'<br /><br />\n\n\n",
                "No image found with ID %s<br /><br />\n\n\n" % image["id"])
        assert admin.get(url).status_code == 404


def test_concurrent_deactivations_each_succeed(admin):
    for _ in range(BURSTS):
        image = admin.create_active(b"racing deactivations")
        url = "/v2/images/%s/actions/deactivate" % image["id"]
        answers = burst([functools.partial(admin.post, url)] * THREADS)
        assert [r.status_code for r in answers] == [204] * THREADS, [r.text for r in answers]
        assert admin.show(image["id"])["status"] == "deactivated"


def test_new_resource_type_from_concurrent_requests(admin):
    ns = "race-" + uuid.uuid4().hex[:8]
    assert admin.post("/v2/metadefs/namespaces", json={"namespace": ns}).status_code == 201
    for _ in range(BURSTS):
        rt = "RT::" + uuid.uuid4().hex
        path = "/v2/metadefs/namespaces/%s/resource_types" % ns
        create = functools.partial(admin.post, path, json={"name": rt, "prefix": "p_"})
        answers = burst([create] * THREADS)
        assert sorted(r.status_code for r in answers) == [201] + [409] * (THREADS - 1)
        for resp in answers:
            if resp.status_code == 409:
                assert resp.json()["message"] == (
                    "The metadata definition resource-type association of resource-type=%s "
                    "to namespace=%s already exists.<br /><br />\n\n\n" % (rt, ns))
        # Several namespaces created at once, each associated with one more new type.
        rt = "RT::" + uuid.uuid4().hex
        names = ["%s-%s" % (ns, uuid.uuid4().hex[:8]) for _ in range(THREADS)]
        answers = burst([functools.partial(admin.post, "/v2/metadefs/namespaces", json={
            "namespace": name, "resource_type_associations": [{"name": rt}]})
            for name in names])
        assert [r.status_code for r in answers] == [201] * THREADS, [r.text for r in answers]
        listed = admin.get("/v2/metadefs/namespaces?resource_types=%s&limit=100" % rt).json()
        assert sorted(n["namespace"] for n in listed["namespaces"]) == sorted(names)
