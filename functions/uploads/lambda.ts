import { lambdaHandler } from '../lambda.ts';
import { uploadsRoutes } from './app.ts';

export const handler = lambdaHandler('/api/upload', uploadsRoutes);
