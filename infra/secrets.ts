/**
 * Every secret the app needs, declared once. Set them before the first deploy:
 *   npx sst secret set JwtSecret "$(openssl rand -base64 48)" --stage <stage>
 *   npx sst secret set MetricsToken "$(openssl rand -hex 24)" --stage <stage>
 */
export const secrets = {
  jwtSecret: new sst.Secret('JwtSecret'),
  metricsToken: new sst.Secret('MetricsToken'),
};

/**
 * Cloudflare R2 instead of S3, chosen at deploy time with PARLEY_STORAGE=r2. R2 has no IAM
 * role integration, so it is the one place where static object-store keys exist.
 */
export const useR2 = process.env.PARLEY_STORAGE === 'r2';

export const r2 = useR2
  ? {
      endpoint: new sst.Secret('R2Endpoint'),
      bucket: new sst.Secret('R2Bucket'),
      accessKeyId: new sst.Secret('R2AccessKeyId'),
      secretAccessKey: new sst.Secret('R2SecretAccessKey'),
    }
  : undefined;
