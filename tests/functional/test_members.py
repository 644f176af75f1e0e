"""Image sharing between projects: members, their status, and what each project sees."""
import re

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def names(user, query=""):
    """Return the ids a user lists with the query."""
    resp = user.get("/v2/images?limit=1000&" + query)
    assert resp.status_code == 200, resp.text
    return {image["id"] for image in resp.json()["images"]}


def add_member(owner, image_id, member):
    resp = owner.post(f"/v2/images/{image_id}/members", json={"member": member})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_member_lifecycle(user, other_user, third_user):
    image = user.create_image(visibility="shared")
    image_id, p2 = image["id"], other_user.project_id
    member = add_member(user, image_id, p2)
    assert set(member) == {"member_id", "image_id", "status", "created_at", "updated_at",
                           "schema"}
    assert (member["member_id"], member["image_id"], member["status"], member["schema"]) == \
        (p2, image_id, "pending", "/v2/schemas/member")
    assert TIMESTAMP.match(member["created_at"])

    # pending: visible by id, listed only when asking for pending memberships
    assert other_user.get(f"/v2/images/{image_id}").status_code == 200
    assert image_id not in names(other_user)
    assert image_id in names(other_user, "member_status=pending")
    assert third_user.get(f"/v2/images/{image_id}").status_code == 404

    resp = other_user.put(f"/v2/images/{image_id}/members/{p2}", json={"status": "accepted"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "accepted"
    assert image_id in names(other_user)
    assert image_id not in names(other_user, "member_status=pending")

    resp = other_user.put(f"/v2/images/{image_id}/members/{p2}", json={"status": "rejected"})
    assert resp.json()["status"] == "rejected"
    assert image_id not in names(other_user)
    assert image_id in names(other_user, "member_status=rejected")
    assert image_id in names(other_user, "member_status=all")
    assert other_user.get(f"/v2/images/{image_id}").status_code == 200


def test_member_listing_views(user, other_user, third_user):
    image_id = user.create_image(visibility="shared")["id"]
    add_member(user, image_id, other_user.project_id)
    add_member(user, image_id, third_user.project_id)
    body = user.get(f"/v2/images/{image_id}/members").json()
    assert body["schema"] == "/v2/schemas/members"
    assert {m["member_id"] for m in body["members"]} == {other_user.project_id,
                                                         third_user.project_id}
    mine = other_user.get(f"/v2/images/{image_id}/members").json()["members"]
    assert [m["member_id"] for m in mine] == [other_user.project_id]
    one = user.get(f"/v2/images/{image_id}/members/{third_user.project_id}")
    assert one.status_code == 200 and one.json()["member_id"] == third_user.project_id


def test_member_refusals(user, other_user, third_user):
    image_id = user.create_image(visibility="shared")["id"]
    p2 = other_user.project_id
    add_member(user, image_id, p2)
    base = f"/v2/images/{image_id}/members"
    resp = user.post(base, json={"member": p2})
    assert resp.status_code == 409
    assert f"Member {p2} is duplicated for image {image_id}" in resp.json()["message"]
    resp = user.put(f"{base}/{p2}", json={"status": "accepted"})
    assert resp.status_code == 403
    assert "You are not authorized to complete modify_member action." in resp.json()["message"]
    resp = other_user.put(f"{base}/{p2}", json={"status": "great"})
    assert resp.status_code == 400
    assert 'Status must be "pending", "accepted" or "rejected".' in resp.json()["message"]
    assert user.post(base, json={"member": ""}).status_code == 400
    assert user.post(base, json={}).status_code == 400
    assert third_user.get(base).status_code == 404
    assert third_user.post(base, json={"member": third_user.project_id}).status_code == 404
    assert other_user.delete(f"{base}/{p2}").status_code == 403
    assert user.get(f"{base}/{third_user.project_id}").status_code == 404


def test_members_only_on_shared_images(user, other_user):
    image_id = user.create_image(visibility="private")["id"]
    resp = user.post(f"/v2/images/{image_id}/members", json={"member": other_user.project_id})
    assert resp.status_code == 403
    assert f"Not allowed to create members for image {image_id}." in resp.json()["message"]


def test_remove_and_readd_member(user, other_user):
    image_id = user.create_image(visibility="shared")["id"]
    p2 = other_user.project_id
    add_member(user, image_id, p2)
    resp = user.delete(f"/v2/images/{image_id}/members/{p2}")
    assert resp.status_code == 204
    assert other_user.get(f"/v2/images/{image_id}").status_code == 404
    assert user.get(f"/v2/images/{image_id}/members").json()["members"] == []
    assert add_member(user, image_id, p2)["status"] == "pending"
    assert other_user.get(f"/v2/images/{image_id}").status_code == 200


def test_visibility_across_projects(user, other_user, admin):
    public = admin.create_image(visibility="public")["id"]
    community = user.create_image(visibility="community")["id"]
    private = user.create_image(visibility="private")["id"]
    seen = names(other_user)
    assert public in seen and community not in seen and private not in seen
    assert community in names(other_user, "visibility=community")
    assert other_user.get(f"/v2/images/{community}").status_code == 200
    assert other_user.get(f"/v2/images/{private}").status_code == 404
    assert {community, private} <= names(user)
    assert private in names(admin, f"owner={user.project_id}")
    assert community not in names(admin, f"owner={user.project_id}")
    assert community in names(admin, f"owner={user.project_id}&visibility=all")
