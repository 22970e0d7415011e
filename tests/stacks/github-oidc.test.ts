/**
 * The role GitHub Actions deploys with (stacks/github-oidc.ts), synthesized as `npx sst deploy --stage github-oidc`
 * builds it: trusted for one repository's protected environment only, allowed only what `sst deploy` does itself.
 */
import { rmSync } from "node:fs";
import { Template } from "aws-cdk-lib/assertions";
import type { SynthesisMessage } from "aws-cdk-lib/cx-api";
import { getStack } from "sst/constructs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CDK_QUALIFIER,
  GITHUB_OIDC_HOST,
  GITHUB_OIDC_STAGE,
  GithubOidc,
  githubOidcSettings,
} from "../../stacks/github-oidc.js";
import {
  ACCOUNT,
  APP_NAME,
  asArray,
  type CfnResource,
  type JsonObject,
  REGION,
  refOf,
  render,
  type Statement,
  SYNTH_TIMEOUT_MS,
  statementsOf,
  synthesizeConfig,
} from "./synth.js";

const REPOSITORY = "acme-ops/nexus";
let dir = "";
let resources: Record<string, CfnResource> = {};
let outputs: Record<string, JsonObject> = {};
let messages: SynthesisMessage[] = [];

beforeAll(async () => {
  const synthesized = await synthesizeConfig(GITHUB_OIDC_STAGE, {
    NEXUS_GITHUB_REPOSITORY: REPOSITORY,
    NEXUS_GITHUB_ENVIRONMENT: undefined,
    NEXUS_DEPLOY_STAGE: undefined,
    NEXUS_GITHUB_OIDC_PROVIDER_ARN: undefined,
  });
  dir = synthesized.dir;
  const stack = getStack(GithubOidc);
  const json = Template.fromStack(stack).toJSON();
  resources = json.Resources as Record<string, CfnResource>;
  outputs = (json.Outputs ?? {}) as Record<string, JsonObject>;
  messages = synthesized.app.synth().getStackArtifact(stack.artifactId).messages;
}, SYNTH_TIMEOUT_MS);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
/** The roles GitHub's OIDC provider may assume (the other one is SST's custom resource handler's). */
const deployRole = (): [string, CfnResource] => {
  const roles = ofType("AWS::IAM::Role").filter(([, r]) =>
    JSON.stringify(r.Properties?.AssumeRolePolicyDocument).includes("Federated"),
  );
  expect(roles).toHaveLength(1);
  return roles[0] as [string, CfnResource];
};
const rendered = (s: Statement) => ({ ...s, Resource: s.Resource.map(render) });
const allowed = (): Statement[] =>
  ofType("AWS::IAM::Policy")
    .filter(([, policy]) => asArray(policy.Properties?.Roles).some((role) => refOf(role) === deployRole()[0]))
    .flatMap(([, policy]) => statementsOf(policy.Properties?.PolicyDocument).map(rendered));

describe("the github-oidc stage", () => {
  it("holds only GitHub's OIDC provider and the deploy role (besides SST's own handler), nothing of Nexus", () => {
    expect(
      Object.values(resources)
        .map((r) => r.Type)
        .sort(),
    ).toEqual([
      "AWS::IAM::OIDCProvider",
      "AWS::IAM::Policy",
      "AWS::IAM::Role",
      "AWS::IAM::Role",
      "AWS::Lambda::Function",
    ]);
    expect(ofType("AWS::Lambda::Function").map(([id]) => id)).toEqual([
      expect.stringMatching(/^CustomResourceHandler/),
    ]);
    const [, provider] = ofType("AWS::IAM::OIDCProvider")[0] as [string, CfnResource];
    expect(provider.Properties).toMatchObject({
      Url: `https://${GITHUB_OIDC_HOST}`,
      ClientIdList: ["sts.amazonaws.com"],
    });
    expect(outputs.DeployRoleArn).toBeDefined();
  });

  it("trusts GitHub's OIDC tokens for sts.amazonaws.com from the repository's production environment only", () => {
    const [, role] = deployRole();
    const trust = statementsOf(role.Properties?.AssumeRolePolicyDocument);
    expect(trust).toHaveLength(1);
    const [providerId] = ofType("AWS::IAM::OIDCProvider")[0] as [string, CfnResource];
    expect(trust[0]).toEqual({
      Effect: "Allow",
      Action: ["sts:AssumeRoleWithWebIdentity"],
      Resource: [],
      Condition: {
        StringEquals: {
          [`${GITHUB_OIDC_HOST}:aud`]: "sts.amazonaws.com",
          [`${GITHUB_OIDC_HOST}:sub`]: `repo:${REPOSITORY}:environment:production`,
        },
      },
    });
    expect(JSON.stringify(role.Properties?.AssumeRolePolicyDocument)).toContain(`"Fn::GetAtt":["${providerId}","Arn"]`);
    expect(role.Properties?.RoleName).toBe(`${APP_NAME}-prod-github-deploy`);
  });

  it("may deploy the prod stage's stacks through the CDK bootstrap roles, and nothing else", () => {
    const cdkRole = (name: string) =>
      `arn:\${AWS::Partition}:iam::${ACCOUNT}:role/cdk-${CDK_QUALIFIER}-${name}-${ACCOUNT}-${REGION}`;
    const stack = (name: string) => `arn:\${AWS::Partition}:cloudformation:${REGION}:${ACCOUNT}:stack/${name}/*`;
    const assets = `arn:\${AWS::Partition}:s3:::cdk-${CDK_QUALIFIER}-assets-${ACCOUNT}-${REGION}/*`;
    const sst = `arn:\${AWS::Partition}:s3:::sstbootstrap-*`;
    // Each grant as "action resource [condition]".
    const grants = allowed().flatMap((s) =>
      s.Action.flatMap((action) =>
        s.Resource.map((resource) =>
          [action, resource, ...(s.Condition ? [JSON.stringify(s.Condition)] : [])].join(" "),
        ),
      ),
    );
    const appStacks = stack(`prod-${APP_NAME}-*`);
    expect(grants.sort()).toEqual(
      [
        `sts:AssumeRole ${cdkRole("*-role")}`,
        `iam:PassRole ${cdkRole("cfn-exec-role")} {"StringEquals":{"iam:PassedToService":"cloudformation.amazonaws.com"}}`,
        ...["Create", "Update", "Delete", "Describe"].map(
          (verb) => `cloudformation:${verb}Stack${verb === "Describe" ? "s" : ""} ${appStacks}`,
        ),
        `cloudformation:DescribeStackEvents ${appStacks}`,
        `cloudformation:DescribeStackResources ${appStacks}`,
        `cloudformation:GetTemplate ${appStacks}`,
        `cloudformation:DescribeStacks ${stack("CDKToolkit")}`,
        `cloudformation:DescribeStacks ${stack("SSTBootstrap")}`,
        `s3:GetObject ${assets}`,
        ...["Get", "Put", "Delete"].map((verb) => `s3:${verb}Object ${sst}/*`),
        `s3:ListBucket ${sst}`,
      ].sort(),
    );
    // No managed policy: the statements above are all it has.
    expect(asArray(deployRole()[1].Properties?.ManagedPolicyArns)).toEqual([]);
  });

  it("passes cdk-nag, each wildcard suppressed with its reason", () => {
    const errors = messages.filter((m) => m.level === "error");
    expect(errors.map((m) => String(m.entry.data))).toEqual([]);
    expect(messages.some((m) => String(m.entry.data).includes("AwsSolutions-IAM5"))).toBe(false);
  });

  it("takes the repository, environment, stage and an existing provider from the deploying shell", () => {
    expect(() => githubOidcSettings({})).toThrow(/NEXUS_GITHUB_REPOSITORY/);
    expect(() => githubOidcSettings({ NEXUS_GITHUB_REPOSITORY: "acme-ops" })).toThrow(/owner\/repo/);
    expect(() => githubOidcSettings({ NEXUS_GITHUB_REPOSITORY: "acme/nexus:environment:x" })).toThrow(
      /NEXUS_GITHUB_REPOSITORY/,
    );
    expect(githubOidcSettings({ NEXUS_GITHUB_REPOSITORY: REPOSITORY })).toEqual({
      repository: REPOSITORY,
      environment: "production",
      deployStage: "prod",
    });
    const provider = `arn:aws:iam::${ACCOUNT}:oidc-provider/${GITHUB_OIDC_HOST}`;
    expect(
      githubOidcSettings({
        NEXUS_GITHUB_REPOSITORY: REPOSITORY,
        NEXUS_GITHUB_ENVIRONMENT: "live",
        NEXUS_DEPLOY_STAGE: "live",
        NEXUS_GITHUB_OIDC_PROVIDER_ARN: provider,
      }),
    ).toEqual({ repository: REPOSITORY, environment: "live", deployStage: "live", providerArn: provider });
    expect(() =>
      githubOidcSettings({ NEXUS_GITHUB_REPOSITORY: REPOSITORY, NEXUS_GITHUB_ENVIRONMENT: "prod:*" }),
    ).toThrow(/NEXUS_GITHUB_ENVIRONMENT/);
    expect(() =>
      githubOidcSettings({ NEXUS_GITHUB_REPOSITORY: REPOSITORY, NEXUS_DEPLOY_STAGE: GITHUB_OIDC_STAGE }),
    ).toThrow(/NEXUS_DEPLOY_STAGE/);
    expect(() =>
      githubOidcSettings({
        NEXUS_GITHUB_REPOSITORY: REPOSITORY,
        NEXUS_GITHUB_OIDC_PROVIDER_ARN: "arn:aws:iam::1:role/x",
      }),
    ).toThrow(/NEXUS_GITHUB_OIDC_PROVIDER_ARN/);
  });
});
