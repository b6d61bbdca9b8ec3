import { lambdaHandler } from '../lambda.ts';
import { authRoutes } from './app.ts';

export const handler = lambdaHandler('/api/auth', authRoutes);
