/** The table: every record of Nexus (agents, tasks, plans, schedules, keys), keyed as packages/core/src/storage/table.ts says. */
import { RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import type { Stack } from "sst/constructs";
import { INDEXES, TABLE_KEYS } from "../packages/core/src/storage/table.js";

/** Number attribute (epoch seconds) that DynamoDB TTL deletes items by. */
export const TTL_ATTRIBUTE = "expiresAt";

/** A statement allowing these DynamoDB actions (`GetItem`, …) on the table and each of its indexes by name. */
export type TableAccess = (...actions: string[]) => iam.PolicyStatement;

/** The table, retained and deletion-protected unless the stage is ephemeral, and the way functions are given it. */
export function addTable(stack: Stack, { ephemeral }: { ephemeral: boolean }) {
  const STRING = dynamodb.AttributeType.STRING;
  const table = new dynamodb.Table(stack, "Table", {
    partitionKey: { name: TABLE_KEYS.partitionKey, type: STRING },
    sortKey: { name: TABLE_KEYS.sortKey, type: STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    timeToLiveAttribute: TTL_ATTRIBUTE,
    deletionProtection: !ephemeral,
    removalPolicy: ephemeral ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
  });
  // GSI1–GSI4 project all attributes; the task listings' indexes, keys only.
  for (const index of INDEXES) {
    table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.keys.partitionKey, type: STRING },
      sortKey: { name: index.keys.sortKey, type: STRING },
      projectionType: dynamodb.ProjectionType[index.projection],
    });
  }
  // The table and each index by name: no `index/*` wildcard.
  const tableResources = [table.tableArn, ...INDEXES.map(({ name }) => `${table.tableArn}/index/${name}`)];
  const tableAccess: TableAccess = (...actions) =>
    new iam.PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: tableResources });
  return { table, tableAccess };
}
