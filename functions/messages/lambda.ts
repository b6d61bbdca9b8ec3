import { lambdaHandler } from '../lambda.ts';
import { messagesRoutes } from './app.ts';

export const handler = lambdaHandler('/api/messages', messagesRoutes);
