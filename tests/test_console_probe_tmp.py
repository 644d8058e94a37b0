import re
async def test_probe(console_client, seeded):
    c = console_client
    r = await c.post("/console/api/login", json={"token": "token-a"})
    print(r.status_code, r.text, r.headers.get("set-cookie"))
    a = seeded["alpha"]
    for path in ["/console/login", "/console/", "/console", "/console/knowledge", f"/console/knowledge/{a.knowledge_base}/chunks/{a.chunks[0].chunk_id}",
                 "/console/datasets", f"/console/datasets?version={a.versions[0].version}", f"/console/datasets?old={a.versions[0].version}&new={a.versions[1].version}",
                 "/console/adapters", "/console/flywheel", "/console/static/console.js", f"/console/api/datasets/{a.versions[1].version}/export?fmt=chat",
                 f"/console/api/datasets/{a.versions[1].version}/export?fmt=stats", f"/console/api/knowledge/search?q=Stoat&kb={a.knowledge_base}",
                 "/console/api/curated"]:
        r = await c.get(path)
        print("==", path, r.status_code, len(r.text))
        if r.status_code != 200: print(r.text[:2000])
        open("/tmp/cprobe/" + re.sub(r"\W", "_", path) + ".html", "w").write(r.text)
    r = await c.post("/console/api/ask", json={"question": "hi", "mode": "rag"}); print(r.status_code, r.text[:1500])
