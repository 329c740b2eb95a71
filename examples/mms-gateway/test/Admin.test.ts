import { afterEach, describe, expect, it } from "vitest";
import { closeAll, startGateway, submit } from "./harness/FrontDoor.js";

afterEach(closeAll);

describe("the admin listener", () => {
  it("serves metrics, the live page and live.json, which the MM7 port does not", async () => {
    const { gateway } = await startGateway();
    expect((await submit(gateway, 1)).status).toBe(200);
    for (const route of ["/metrics", "/live.json", "/"]) {
      const onMm7Port = await fetch(`${gateway.url}${route}`);
      expect([route, onMm7Port.status]).toEqual([route, 404]);
      await onMm7Port.body?.cancel();
    }
    const metrics = await fetch(`${gateway.adminUrl}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('mm7_submissions_total{result="accepted",status="1000"} 1');
    expect(text).toMatch(/mm7_connections\{state="open"\} \d+/);
    expect(text).toContain('mm7_connections_closed_total{reason="evicted"} 0');
    expect(text).toContain("mm7_body_bytes_in_flight 0");
    const live = await fetch(`${gateway.adminUrl}/live.json`);
    expect(await live.json()).toMatchObject({ messages: expect.any(Object) });
    const page = await fetch(`${gateway.adminUrl}/`);
    expect(await page.text()).toContain("<title>Spool MMS gateway</title>");
  });

  it("listens on loopback on a port of its own unless told otherwise", async () => {
    const { gateway } = await startGateway();
    expect(gateway.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(gateway.adminUrl).port).not.toBe(new URL(gateway.url).port);
  });
});

describe("the MM7 port", () => {
  it("answers MM7 and health only: any other path is 404, a wrong method 405", async () => {
    const { gateway } = await startGateway();
    const answers: [string, string, number][] = [
      ["GET", "/health", 200],
      ["GET", "/nothing-here", 404],
      ["POST", "/metrics", 404],
      ["GET", "/mm7", 405],
      ["DELETE", "/mm7/messages/x", 405],
    ];
    for (const [method, route, code] of answers) {
      const response = await fetch(`${gateway.url}${route}`, { method });
      await response.body?.cancel();
      expect([method, route, response.status]).toEqual([method, route, code]);
    }
  });
});
