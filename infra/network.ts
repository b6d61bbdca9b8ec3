/**
 * One VPC for the database, Redis, the realtime tasks and the functions that reach them.
 * A NAT instance (fck-nat on t4g.nano) instead of managed NAT gateways keeps the idle cost
 * low; switch to `nat: 'managed'` for production-grade availability.
 */
export const vpc = new sst.aws.Vpc('Vpc', {
  nat: 'ec2',
});

/**
 * S3 traffic from the private subnets (uploads checks, signed-URL HEADs, the sweep) goes
 * through a gateway endpoint: free, and it does not pass, or pay for, the NAT. The Vpc
 * component has no option for it, so it is attached to the private route tables here.
 */
export const s3Endpoint = new aws.ec2.VpcEndpoint('VpcS3Endpoint', {
  vpcId: vpc.id,
  serviceName: $interpolate`com.amazonaws.${aws.getRegionOutput().region}.s3`,
  vpcEndpointType: 'Gateway',
  routeTableIds: vpc.nodes.privateRouteTables.apply((tables) => tables.map((t) => t.id)),
});
