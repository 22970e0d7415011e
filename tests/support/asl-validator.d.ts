declare module "asl-validator" {
  interface Result {
    isValid: boolean;
    errors: Array<{ message: string; path?: string }>;
    errorsText(separator?: string): string;
  }
  export default function validator(
    definition: unknown,
    options?: { checkPaths?: boolean; checkArn?: boolean },
  ): Result;
}
