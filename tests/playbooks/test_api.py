def test_list_and_get_playbooks(client, headers):
    auth = headers("viewer")
    listed = client.get("/api/v1/playbooks", headers=auth).json()
    keys = {item["key"] for item in listed}
    assert "product-recall" in keys
    recall = next(item for item in listed if item["key"] == "product-recall")
    assert recall["kind"] == "product_recall"
    assert recall["name"] == {"zh-CN": "产品质量召回", "en": "Product quality recall"}
    full = client.get("/api/v1/playbooks/product-recall", headers=auth).json()
    assert full["content_hash"] == recall["content_hash"]
    assert full["roles"][0]["title"]["zh-CN"] == "总指挥"
    assert client.get("/api/v1/playbooks/nope", headers=auth).status_code == 404
    assert client.get("/api/v1/playbooks").status_code == 401
