"""Requests racing on one resource answer as Glance 33 does, never with registry wording.

Glance's image delete and deactivate save without a compare-and-swap, so overlapping
requests all succeed; ours use one (STYLE.md §2), and the loser used to show its
"cannot transition from ... (wanted from_state=...)" text as a 409. Each burst starts its
threads together on a barrier and is repeated, since one burst may happen not to overlap.
"""
import functools
import threading

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
