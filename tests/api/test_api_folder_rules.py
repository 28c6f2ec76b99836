"""`/api/v1/folder-rules` and `/api/v1/mail-folders`: the caller's folder-tracking rules in Dataverse, and the folders
under their Inbox read through Microsoft Graph on-behalf-of them (a second OBO scope, cached like Dataverse's)."""

from __future__ import annotations

from typing import Any

from conftest import ALICE, Api
from sync_support import MEGAN, dataverse, graph, make_folder, set_organization

from addin_api.devstack.seed import FABRIKAM_ACCOUNT_ID

BOB = "bob@contoso.example"


def rule_body(folder_id: str, record: str = FABRIKAM_ACCOUNT_ID, table: str = "account") -> dict[str, Any]:
    return {"folderId": folder_id, "regarding": {"table": table, "id": record}}


def test_mail_folders_lists_the_folders_under_the_inbox_with_their_paths(api: Api) -> None:
    """Breadth first, nested ones with their path; folders outside the Inbox are not offered."""
    clients = make_folder(api.devstack, "Clients")
    fabrikam = make_folder(api.devstack, "Fabrikam", clients)
    make_folder(api.devstack, "Elsewhere", "msgfolderroot")
    listed = api.get("/api/v1/mail-folders")
    assert 200 == listed.status_code, listed.get_json()
    body = listed.get_json()
    by_id = {f["id"]: f for f in body["folders"]}
    assert {"id": fabrikam, "name": "Fabrikam", "path": "Inbox/Clients/Fabrikam"} == by_id[fabrikam]
    assert "Inbox/Clients" == by_id[clients]["path"]
    assert not any(f["name"] == "Elsewhere" for f in body["folders"])
    assert body["truncated"] is False


def test_the_graph_token_is_exchanged_once_and_then_cached_beside_the_dataverse_one(api: Api) -> None:
    """Cold: one OBO exchange for Graph; the Dataverse token is a separate exchange (never the Graph one reused);
    warm: neither asks the identity provider again."""

    def exchanges() -> list[dict[str, Any]]:
        return [r for r in api.devstack.requests_log("identity") if r["path"].endswith("/token")]

    api.devstack.clear_log()
    assert 200 == api.get("/api/v1/mail-folders").status_code
    assert 1 == len(exchanges())
    assert 200 == api.get("/api/v1/folder-rules").status_code
    assert 2 == len(exchanges())
    api.devstack.clear_log()
    assert 200 == api.get("/api/v1/mail-folders").status_code
    assert 200 == api.get("/api/v1/folder-rules").status_code
    assert [] == exchanges()


def test_a_rule_is_kept_in_dataverse_listed_and_removed(api: Api) -> None:
    """POST answers 201 with the regarding's name; the row is in mailboxtrackingfolders; DELETE removes it."""
    folder = make_folder(api.devstack, "Fabrikam deals")
    created = api.post("/api/v1/folder-rules", rule_body(folder))
    assert 201 == created.status_code, created.get_json()
    rule = created.get_json()
    assert {
        "folderId": folder,
        "folderName": "Fabrikam deals",
        "regarding": {"table": "account", "id": FABRIKAM_ACCOUNT_ID, "name": "Fabrikam, Inc."},
        "active": True,
        "reason": None,
    } == {k: v for k, v in rule.items() if k != "id"}
    listed = api.get("/api/v1/folder-rules").get_json()
    assert (True, 25, [rule]) == (listed["enabled"], listed["limit"], listed["rules"])
    row = dataverse(api.devstack, "GET", f"mailboxtrackingfolders({rule['id']})").json()
    assert (folder, FABRIKAM_ACCOUNT_ID, 0) == (
        row["exchangefolderid"],
        row["_regardingobjectid_value"],
        row["folderonboardingstatus"],
    )
    assert 204 == api.delete(f"/api/v1/folder-rules/{rule['id']}").status_code
    assert [] == api.get("/api/v1/folder-rules").get_json()["rules"]


def test_the_same_folder_again_points_its_rule_at_the_new_record(api: Api) -> None:
    """One folder never has two rules: a second POST answers 200 with the rule's new record."""
    folder = make_folder(api.devstack, "Deals")
    first = api.post("/api/v1/folder-rules", rule_body(folder)).get_json()
    contact = dataverse(api.devstack, "GET", "contacts?$select=contactid,fullname&$top=1").json()["value"][0]
    again = api.post("/api/v1/folder-rules", rule_body(folder, contact["contactid"], "contact"))
    assert (200, first["id"]) == (again.status_code, again.get_json()["id"])
    regarding = again.get_json()["regarding"]
    assert ("contact", contact["fullname"]) == (regarding["table"], regarding["name"])
    assert 1 == len(api.get("/api/v1/folder-rules").get_json()["rules"])


def test_folders_outside_the_inbox_and_the_inbox_itself_are_refused(api: Api) -> None:
    """422 folder_not_in_inbox for a top-level folder, Sent Items, the Inbox and a folder that does not exist."""
    outside = make_folder(api.devstack, "Projects", "msgfolderroot")
    sent = graph(api.devstack, ALICE, "GET", "/me/mailFolders/sentitems").json()["id"]
    inbox = graph(api.devstack, ALICE, "GET", "/me/mailFolders/inbox").json()["id"]
    for folder in (outside, sent, inbox, "AAMkAGI2TG93AAA="):
        refused = api.post("/api/v1/folder-rules", rule_body(folder))
        assert (422, "folder_not_in_inbox") == (refused.status_code, refused.get_json()["code"])
    assert [] == api.get("/api/v1/folder-rules").get_json()["rules"]


def test_another_users_folder_is_not_under_the_callers_inbox(api: Api) -> None:
    """Megan's folder id, given by alice: Graph (as alice) cannot see it, so it is refused, and nothing is written."""
    theirs = make_folder(api.devstack, "Megan's", user=MEGAN)
    refused = api.post("/api/v1/folder-rules", rule_body(theirs))
    assert (422, "folder_not_in_inbox") == (refused.status_code, refused.get_json()["code"])


def test_the_organizations_limit_and_switch_are_kept(api: Api) -> None:
    """Past `maxfolderbasedtrackingmappings`: 422 folder_rule_limit with the limit; with folder-level tracking off:
    422 folder_tracking_disabled. Nothing is written either time."""
    set_organization(api.devstack, maxfolderbasedtrackingmappings=2)
    for name in ("One", "Two"):
        assert 201 == api.post("/api/v1/folder-rules", rule_body(make_folder(api.devstack, name))).status_code
    third = api.post("/api/v1/folder-rules", rule_body(make_folder(api.devstack, "Three")))
    assert (422, "folder_rule_limit", 2) == (third.status_code, third.get_json()["code"], third.get_json()["limit"])
    set_organization(api.devstack, isfolderbasedtrackingenabled=False)
    off = api.post("/api/v1/folder-rules", rule_body(make_folder(api.devstack, "Four")))
    assert (422, "folder_tracking_disabled") == (off.status_code, off.get_json()["code"])
    listed = api.get("/api/v1/folder-rules").get_json()
    assert (False, 2, 2) == (listed["enabled"], listed["limit"], len(listed["rules"]))


def test_bad_bodies_are_refused_before_anything_is_called(api: Api) -> None:
    """422 validation_failed naming the field: an unknown table, a folder id over Dataverse's 120 characters."""
    api.devstack.clear_log()
    for body, field in (
        (rule_body("A" * 121), "folderId"),
        ({"folderId": "x", "regarding": {"table": "systemuser", "id": FABRIKAM_ACCOUNT_ID}}, "regarding"),
        ({"regarding": {"table": "account", "id": FABRIKAM_ACCOUNT_ID}}, "folderId"),
    ):
        refused = api.post("/api/v1/folder-rules", body)
        assert (422, True) == (refused.status_code, field in refused.get_json()["errors"]), refused.get_json()
    assert [] == [r for r in api.devstack.requests_log() if "/v1.0/" in r["path"]]


def test_a_rule_is_removed_only_by_its_owner(api: Api) -> None:
    """Megan cannot remove alice's rule through the add-in (404), nor can an unknown id be removed."""
    rule = api.post("/api/v1/folder-rules", rule_body(make_folder(api.devstack, "Mine"))).get_json()
    refused = api.delete(f"/api/v1/folder-rules/{rule['id']}", MEGAN)
    assert (404, "not_found") == (refused.status_code, refused.get_json()["code"])
    assert 404 == api.delete("/api/v1/folder-rules/00000000-0000-0000-0000-000000000001").status_code
    assert 422 == api.delete("/api/v1/folder-rules/not-a-guid").status_code
    assert [rule] == api.get("/api/v1/folder-rules").get_json()["rules"]


def test_adding_a_rule_needs_the_add_in_privilege(api: Api) -> None:
    """Bob lacks prvUseOfficeApps: he may list rules, not add them."""
    assert 200 == api.get("/api/v1/folder-rules", BOB).status_code
    refused = api.post("/api/v1/folder-rules", rule_body("AAMk"), BOB)
    assert (403, "add_in_not_allowed") == (refused.status_code, refused.get_json()["code"])


def test_graph_down_is_mailbox_unavailable_and_nothing_is_written(api: Api) -> None:
    """Graph answering 503: 503 mailbox_unavailable with Retry-After, no rule."""
    folder = make_folder(api.devstack, "Later")
    api.devstack.fault(target="graph", status=503, count=10)
    refused = api.post("/api/v1/folder-rules", rule_body(folder))
    assert (503, "mailbox_unavailable") == (refused.status_code, refused.get_json()["code"])
    assert refused.headers["Retry-After"]
    assert [] == api.get("/api/v1/folder-rules").get_json()["rules"]
