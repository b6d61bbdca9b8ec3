import { lambdaHandler } from '../lambda.ts';
import { roomsRoutes } from './app.ts';

export const handler = lambdaHandler('/api/rooms', roomsRoutes);
