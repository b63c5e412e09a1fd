import type { DeploymentModel } from '@flops/models';
import { AddServiceResult, OakestraApi, OakestraApplication, OakestraApplicationSpec, OakestraCluster, OakestraError, OakestraService } from './oakestra-api';
import { OakestraDriver } from './oakestra.driver';

/** A System Manager that only creates and deletes applications, validating names as its version did. */
class SystemManagerOfVersion extends OakestraApi {
  readonly created: string[] = [];
  readonly deleted: string[] = [];
  constructor(private readonly maxNameLength: number) {
    super();
  }
  createApplication(spec: OakestraApplicationSpec): Promise<OakestraApplication> {
    if (spec.application_name.length > this.maxNameLength) return Promise.reject(new OakestraError('POST /api/application/ answered 422: Unprocessable Entity', 422, ''));
    this.created.push(spec.application_name);
    return Promise.resolve({ ...spec, applicationID: 'a'.repeat(24), microservices: [] });
  }
  deleteApplication(id: string): Promise<boolean> {
    this.deleted.push(id);
    return Promise.resolve(true);
  }
  listApplications(): Promise<OakestraApplication[]> { return unused(); }
  addService(): Promise<AddServiceResult> { return unused(); }
  getService(): Promise<OakestraService | null> { return unused(); }
  listServices(): Promise<OakestraService[]> { return unused(); }
  deployInstance(): Promise<void> { return unused(); }
  deleteService(): Promise<boolean> { return unused(); }
  activeClusters(): Promise<OakestraCluster[]> { return unused(); }
  freeServiceIps(): Promise<string[]> { return unused(); }
}
const unused = <T>(): Promise<T> => Promise.reject(new Error('not used by the version check'));

const settings = { namespace: 'flops', aggregatorPort: 7070, dataNodes: new Map(), pollIntervalMs: 1000 };
// The version check reads and writes no deployment record.
const noRecords = undefined as unknown as DeploymentModel;

describe('OakestraDriver.checkSystemManager', () => {
  it('accepts a System Manager that takes 30-character names (v0.4.301+), and leaves nothing behind', async () => {
    const sm = new SystemManagerOfVersion(30);
    await new OakestraDriver(sm, noRecords, settings).checkSystemManager();
    expect(sm.created).toHaveLength(1);
    expect(sm.created[0]).toMatch(/^[a-zA-Z0-9]{30}$/);
    expect(sm.deleted).toEqual(['a'.repeat(24)]);
  });

  it('refuses one older than v0.4.301 (names capped at 10), naming the version it needs', async () => {
    const driver = new OakestraDriver(new SystemManagerOfVersion(10), noRecords, settings);
    await expect(driver.checkSystemManager()).rejects.toThrow(/needs v0\.4\.301 or later/);
    await expect(driver.deploy({ projectId: 'p0', component: 'aggregator', kind: 'aggregator', image: 'x/y:1', env: {}, resources: {} })).rejects.toThrow(/v0\.4\.301/);
  });
});
