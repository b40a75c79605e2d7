/**
 * The HTML report in a real browser: Debian's Chromium, headless, driven by playwright-core.
 * No console errors, every chart's paths drawn with non-empty geometry, and a screenshot saved
 * in the test's temp directory. Skipped, with the reason, where no Chromium is installed
 * (CHROMIUM_PATH overrides /usr/bin/chromium) or playwright-core does not load. Runs under
 * deno, bun and node alike. TINA_SCREENSHOT=FILE also writes the screenshot there.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { renderReport, rewardRanges } from "../../lib/report/mod.ts";
import type { MetricsRow } from "../../lib/train/metrics.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** A run's worth of metrics: rising noisy rewards, KL, lengths, a cosine learning rate. */
const metrics: MetricsRow[] = Array.from({ length: 60 }, (_, i) => {
  const wobble = Math.sin(i * 1.7) * 0.15;
  const accuracy = Math.min(1, Math.max(0, 0.2 + i / 90 + wobble));
  const format = Math.min(1, 0.5 + i / 100);
  return {
    step: i + 1,
    reward: 2 * accuracy + format,
    reward_std: 0.8,
    "rewards/accuracy/mean": accuracy,
    "rewards/accuracy/std": 0.45,
    "rewards/format/mean": format,
    "rewards/format/std": 0.3,
    kl: 0.001 * i,
    entropy: 1.2 - i / 120,
    "completions/mean_length": 30 + 10 * Math.sin(i / 5),
    learning_rate: 2e-3 * (0.55 + 0.45 * Math.cos((Math.PI * i) / 60)),
    loss: 0.0004 * i,
    grad_norm: 0.5 + wobble,
  };
});

const html = renderReport({
  title: "2026-12-03T08-00-00",
  summary: {
    base_pass_at_1: 0.21,
    final_pass_at_1: 0.47,
    trainable_share: 0.046,
    wall_seconds: 134.2,
    cost: { flops: 606912155648, dollars: 0.0372, seconds: 134.2 },
  },
  metrics,
  ranges: rewardRanges([{ name: "accuracy", weight: 2 }, { name: "format", weight: 1 }]),
  before: {
    label: "before",
    passAt1: 0.21,
    problems: 40,
    samplesPerProblem: 4,
    samples: [{
      problem: "Compute 3+4.",
      gold: "7",
      completion: "<think>\n3+4=8\n</think>",
      correct: false,
    }],
  },
  after: {
    label: "after",
    passAt1: 0.47,
    problems: 40,
    samplesPerProblem: 4,
    samples: [{
      problem: "Compute 3+4.",
      gold: "7",
      completion: "<think>\n3+4=7\n</think>\n<answer>\n7\n</answer>",
      correct: true,
    }],
  },
});

/** playwright-core, or why it cannot run here. */
const playwright = async () => {
  if (!existsSync(CHROMIUM)) {
    return { skip: `no Chromium at ${CHROMIUM} (apt-get install chromium)` };
  }
  try {
    return { chromium: (await import("playwright-core")).chromium };
  } catch (e) {
    return { skip: `playwright-core does not load on this runtime: ${(e as Error).message}` };
  }
};

const driver = await playwright();
const reason = "skip" in driver ? driver.skip : null;

if (reason !== null) {
  console.log(`browser test skipped: ${reason}`);
  test.skip("the report renders in Chromium without errors", () => {});
} else {
  test("the report renders in Chromium without errors", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tina-browser-"));
    const browser = await driver.chromium!.launch({ executablePath: CHROMIUM, args: FLAGS });
    try {
      const file = join(dir, "report.html");
      await writeFile(file, html);
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const problems: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") {
          problems.push(`${m.type()}: ${m.text()}`);
        }
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
      const charts = await page.$$eval("svg", (svgs) =>
        svgs.map((svg) => ({
          title: svg.querySelector("title")?.textContent ?? "",
          paths: [...svg.querySelectorAll("path")].map((p) => {
            const box = (p as unknown as { getBBox(): { width: number; height: number } })
              .getBBox();
            return { d: p.getAttribute("d") ?? "", width: box.width, height: box.height };
          }),
          rects: svg.querySelectorAll("rect").length,
        })));
      assert.is(await page.title(), "2026-12-03T08-00-00");
      const lineCharts = charts.filter((c) => c.title !== "pass@1");
      assert.is(lineCharts.length, 9, charts.map((c) => c.title).join(", "));
      for (const chart of lineCharts) {
        const lines = chart.title === "Learning rate" ? 1 : 2; // a schedule is not smoothed
        assert.ok(chart.paths.length >= lines, `${chart.title}: raw and smoothed lines`);
        for (const p of chart.paths) {
          assert.ok(p.d.length > 0 && !p.d.includes("NaN"), `${chart.title}: path data`);
          assert.ok(p.width > 0 || p.height > 0, `${chart.title}: a path with no extent`);
        }
      }
      assert.ok(charts.some((c) => c.title === "pass@1" && c.rects === 2), "pass@1 bars");
      const text = await page.textContent("body");
      assert.ok(
        text!.includes("607 GFLOP") && text!.includes("$0.04") && text!.includes("2 min 14 s"),
      );
      const shot = join(dir, "report.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok((await stat(shot)).size > 10_000, "a screenshot with content");
      if (process.env.TINA_SCREENSHOT) {
        await writeFile(process.env.TINA_SCREENSHOT, await page.screenshot({ fullPage: true }));
      }
      assert.equal(problems, [], problems.join("\n"));
    } finally {
      await browser.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test.run();
