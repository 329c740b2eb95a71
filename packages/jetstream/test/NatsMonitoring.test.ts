import { agreedLeader, type LeaderView } from "@spool/testing";
import { describe, expect, it } from "vitest";

function view(server: string, leader: string | undefined, groupSize = 3): LeaderView {
  return { server, leader, groupSize };
}

describe("agreedLeader", () => {
  it("takes the leader a majority names", () => {
    expect(agreedLeader([view("n1", "n2"), view("n2", "n2"), view("n3", "n2")])).toBe("n2");
    expect(agreedLeader([view("n1", "n2"), view("n2", "n2")])).toBe("n2");
  });

  it("ignores a resumed server that still claims a leadership it lost", () => {
    expect(agreedLeader([view("n1", "n3"), view("n2", "n2"), view("n3", "n3")])).toBe("n3");
  });

  it("takes no leader that did not answer, as a paused or killed one does not", () => {
    expect(agreedLeader([view("n1", "n3"), view("n2", "n3")])).toBeUndefined();
  });

  it("takes a leader that names no leader about itself, when the majority names it", () => {
    expect(agreedLeader([view("n1", undefined), view("n2", "n1"), view("n3", "n1")])).toBe("n1");
  });

  it("takes no leader while the views are split or empty", () => {
    expect(agreedLeader([view("n1", "n1"), view("n2", "n2"), view("n3", undefined)])).toBe(
      undefined,
    );
    expect(agreedLeader([])).toBeUndefined();
  });

  it("takes a single-replica group's leader from its one server", () => {
    expect(agreedLeader([view("n2", "n2", 1)])).toBe("n2");
  });
});
