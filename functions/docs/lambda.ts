import { getConnInfo, handle } from 'hono/aws-lambda';
import { loadConfig } from '../../core/config.ts';
import { createHttpApp } from '../../core/http/app.ts';
import { createLogger } from '../../core/logger.ts';
import { documentRoutes } from './app.ts';

type LambdaHandler = ReturnType<typeof handle>;

let built: LambdaHandler | undefined;

/**
 * `GET /api/openapi.json` as its own function: the document comes from the route
 * declarations, so this function opens no database, Redis or storage connection.
 */
export const handler: LambdaHandler = (event, context) => {
  if (!built) {
    const config = loadConfig();
    const app = createHttpApp({ config, logger: createLogger(config.logLevel), getConnInfo });
    app.route('/', documentRoutes());
    built = handle(app);
  }
  return built(event, context);
};
