import { lambdaHandler } from '../lambda.ts';
import { searchRoutes } from './app.ts';

export const handler = lambdaHandler('/api/search', searchRoutes);
