from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user


def test_admin_builds_tree_and_police_user_logs_in(client, bootstrap):
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "officer.li", ["police"], "320571")
    police = as_user(client, "officer.li", STRONG_PASSWORD)
    assert client.get("/api/v1/users", headers=police).status_code == 403
