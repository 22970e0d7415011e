/**
 * Baseline of research: the bare consumer plus S3 (a screenshot stored, a presigned link to it); the headless
 * Chromium libraries are imported on first render, as a hand-written handler would.
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { consumer } from "./consumer.js";

const s3 = new S3Client({});

export const handler = consumer(async (params) => {
  const [{ default: chromium }, { default: puppeteer }] = await Promise.all([
    import("@sparticuz/chromium"),
    import("puppeteer-core"),
  ]);
  const browser = await puppeteer.launch({ executablePath: await chromium.executablePath(), args: chromium.args });
  try {
    const page = await browser.newPage();
    await page.goto(String(params.url));
    const Key = `screenshots/${Date.now()}.png`;
    await s3.send(
      new PutObjectCommand({ Bucket: process.env.NEXUS_ARTIFACTS_BUCKET, Key, Body: await page.screenshot() }),
    );
    return getSignedUrl(s3, new GetObjectCommand({ Bucket: process.env.NEXUS_ARTIFACTS_BUCKET, Key }));
  } finally {
    await browser.close();
  }
});
