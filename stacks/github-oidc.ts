/**
 * The role GitHub Actions deploys Nexus with: trusted through GitHub's OIDC provider for one repository's protected
 * environment only, and allowed only what `sst deploy` of one stage does with the caller's credentials. Deployed on its
 * own stage (`npx sst deploy --stage github-oidc`, see sst.config.ts), once per account and region, by an operator.
 *
 * What `sst deploy` does as the caller (node_modules/sst/stacks/deploy.js, bootstrap.js, app-metadata.js): reads the
 * CDKToolkit and SSTBootstrap stacks; assumes the CDK bootstrap roles (`cdk-<qualifier>-*-role-…`) to check the
 * bootstrap version and publish the function bundles and the template; creates or updates the app's stacks itself,
 * passing the CDK CloudFormation execution role, which CloudFormation then uses for every resource; reads the template
 * from the CDK assets bucket (CloudFormation fetches a TemplateURL with the caller's permissions); and keeps the app's
 * metadata in the SST bootstrap bucket. Bootstrapping itself (the first deploy in an account and region) is not
 * allowed: an operator does it with the first `sst deploy`.
 */
import { type Stack as CdkStack, Duration } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { NagSuppressions } from "cdk-nag";
import type { StackContext } from "sst/constructs";
import { alignSstCustomResourceHandler } from "./functions.js";
import { escapeRegex } from "./settings.js";

/** The stage that deploys this stack alone (sst.config.ts). */
export const GITHUB_OIDC_STAGE = "github-oidc";
/** GitHub Actions' OIDC issuer. */
export const GITHUB_OIDC_HOST = "token.actions.githubusercontent.com";
/** The audience aws-actions/configure-aws-credentials asks GitHub for. */
export const STS_AUDIENCE = "sts.amazonaws.com";
/** The CDK bootstrap qualifier SST deploys with (CDK's default). */
export const CDK_QUALIFIER = "hnb659fds";

export interface GithubOidcSettings {
  /** `owner/repo` of the repository whose workflow deploys. */
  readonly repository: string;
  /** The GitHub environment (with required reviewers) the deploy job runs in. */
  readonly environment: string;
  /** The Nexus stage the role may deploy. */
  readonly deployStage: string;
  /** An OIDC provider for GitHub already in the account (there can be one per account); absent → this stack makes it. */
  readonly providerArn?: string;
}

/**
 * The settings from the deploying shell: `NEXUS_GITHUB_REPOSITORY` (`owner/repo`, required), `NEXUS_GITHUB_ENVIRONMENT`
 * (default `production`), `NEXUS_DEPLOY_STAGE` (default `prod`) and `NEXUS_GITHUB_OIDC_PROVIDER_ARN` (optional).
 * Missing or malformed → the synth fails, naming the variable.
 */
export function githubOidcSettings(env: NodeJS.ProcessEnv): GithubOidcSettings {
  const repository = env.NEXUS_GITHUB_REPOSITORY?.trim() ?? "";
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/.test(repository)) {
    throw new Error(
      `NEXUS_GITHUB_REPOSITORY must be the repository that deploys, as owner/repo, got ${JSON.stringify(repository)}`,
    );
  }
  const environment = env.NEXUS_GITHUB_ENVIRONMENT?.trim() || "production";
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(environment)) {
    throw new Error(`NEXUS_GITHUB_ENVIRONMENT must be a GitHub environment name, got ${JSON.stringify(environment)}`);
  }
  const deployStage = env.NEXUS_DEPLOY_STAGE?.trim() || "prod";
  if (!/^[a-z][a-z0-9-]*$/.test(deployStage) || deployStage === GITHUB_OIDC_STAGE) {
    throw new Error(
      `NEXUS_DEPLOY_STAGE must be the stage CI deploys (such as prod), got ${JSON.stringify(deployStage)}`,
    );
  }
  const providerArn = env.NEXUS_GITHUB_OIDC_PROVIDER_ARN?.trim();
  if (
    providerArn &&
    !/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/token\.actions\.githubusercontent\.com$/.test(providerArn)
  ) {
    throw new Error(
      `NEXUS_GITHUB_OIDC_PROVIDER_ARN must be the ARN of the account's ${GITHUB_OIDC_HOST} provider, got ${JSON.stringify(providerArn)}`,
    );
  }
  return { repository, environment, deployStage, ...(providerArn ? { providerArn } : {}) };
}

/** The SST stack of the `github-oidc` stage. */
export function GithubOidc({ app, stack }: StackContext) {
  const { role } = addGithubDeployRole(stack, app.name, githubOidcSettings(process.env));
  alignSstCustomResourceHandler(stack);
  stack.addOutputs({ DeployRoleArn: role.roleArn });
}

/** The OIDC provider (unless given) and the deploy role, in any CDK stack. */
export function addGithubDeployRole(stack: CdkStack, appName: string, settings: GithubOidcSettings) {
  const { account, region, partition } = stack;
  const providerArn =
    settings.providerArn ??
    new iam.CfnOIDCProvider(stack, "GithubOidcProvider", {
      url: `https://${GITHUB_OIDC_HOST}`,
      clientIdList: [STS_AUDIENCE],
      // IAM trusts GitHub's certificate through its own library of root CAs; the list is kept for older partitions.
      thumbprintList: ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"],
    }).attrArn;
  const role = new iam.Role(stack, "GithubDeployRole", {
    roleName: `${appName}-${settings.deployStage}-github-deploy`,
    description: `Deploys ${appName} stage ${settings.deployStage} from GitHub Actions: ${settings.repository}, environment ${settings.environment}.`,
    maxSessionDuration: Duration.hours(2),
    assumedBy: new iam.WebIdentityPrincipal(providerArn, {
      StringEquals: {
        [`${GITHUB_OIDC_HOST}:aud`]: STS_AUDIENCE,
        [`${GITHUB_OIDC_HOST}:sub`]: `repo:${settings.repository}:environment:${settings.environment}`,
      },
    }),
  });
  const cdkRole = (name: string) =>
    `arn:${partition}:iam::${account}:role/cdk-${CDK_QUALIFIER}-${name}-${account}-${region}`;
  const stackArn = (name: string) => `arn:${partition}:cloudformation:${region}:${account}:stack/${name}/*`;
  const appStacks = `${settings.deployStage}-${appName}-*`;
  const sstBucket = `arn:${partition}:s3:::sstbootstrap-*`;
  const statements = [
    // The bootstrap roles that check the bootstrap version and publish the assets (and look up, image-publish).
    new iam.PolicyStatement({ actions: ["sts:AssumeRole"], resources: [cdkRole("*-role")] }),
    // The role CloudFormation creates and updates the app's resources with.
    new iam.PolicyStatement({
      actions: ["iam:PassRole"],
      resources: [cdkRole("cfn-exec-role")],
      conditions: { StringEquals: { "iam:PassedToService": "cloudformation.amazonaws.com" } },
    }),
    // The stage's stacks, created, updated, watched (and, after a failed first create, deleted and created again).
    new iam.PolicyStatement({
      actions: [
        "cloudformation:CreateStack",
        "cloudformation:UpdateStack",
        "cloudformation:DeleteStack",
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackEvents",
        "cloudformation:DescribeStackResources",
        "cloudformation:GetTemplate",
      ],
      resources: [stackArn(appStacks)],
    }),
    // Whether CDK and SST are bootstrapped here, and where their buckets are.
    new iam.PolicyStatement({
      actions: ["cloudformation:DescribeStacks"],
      resources: [stackArn("CDKToolkit"), stackArn("SSTBootstrap")],
    }),
    // The template the file-publishing role uploaded, fetched by CloudFormation as the caller.
    new iam.PolicyStatement({
      actions: ["s3:GetObject"],
      resources: [`arn:${partition}:s3:::cdk-${CDK_QUALIFIER}-assets-${account}-${region}/*`],
    }),
    // SST's app and stack metadata.
    new iam.PolicyStatement({
      actions: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
      resources: [`${sstBucket}/*`],
    }),
    new iam.PolicyStatement({ actions: ["s3:ListBucket"], resources: [sstBucket] }),
  ];
  for (const statement of statements) role.addToPolicy(statement);
  NagSuppressions.addResourceSuppressions(
    role,
    [
      {
        id: "AwsSolutions-IAM5",
        reason:
          "sst deploy names its resources by convention, not by reference: the CDK bootstrap roles (cdk-<qualifier>-<purpose>-role-<account>-<region>), the stage's CloudFormation stacks (<stage>-<app>-<stack>/<id>), the objects of the CDK assets bucket (content-hashed keys) and of the SST bootstrap bucket (its name has a generated suffix). Each pattern is fixed up to those parts.",
        appliesTo: [
          { regex: `/^Resource::arn:.*:iam::.*:role\\/cdk-${CDK_QUALIFIER}-\\*-role-.*$/` },
          { regex: `/^Resource::arn:.*:cloudformation:.*:.*:stack\\/${escapeRegex(appStacks)}\\/\\*$/` },
          { regex: "/^Resource::arn:.*:cloudformation:.*:.*:stack\\/(CDKToolkit|SSTBootstrap)\\/\\*$/" },
          { regex: `/^Resource::arn:.*:s3:::cdk-${CDK_QUALIFIER}-assets-[^/]+\\/\\*$/` },
          { regex: "/^Resource::arn:.*:s3:::sstbootstrap-\\*(\\/\\*)?$/" },
        ],
      },
    ],
    true,
  );
  return { role, providerArn };
}
