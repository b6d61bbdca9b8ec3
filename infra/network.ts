/**
 * One VPC for the database, Redis, the realtime tasks and the functions that reach them.
 * A NAT instance (fck-nat on t4g.nano) instead of managed NAT gateways keeps the idle cost
 * low; switch to `nat: 'managed'` for production-grade availability.
 */
export const vpc = new sst.aws.Vpc('Vpc', {
  nat: 'ec2',
});
