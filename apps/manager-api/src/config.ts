import { IsString } from 'class-validator';
import { InfraConfig, IsPort } from '@flops/config';

export class ManagerConfig extends InfraConfig {
  @IsPort() FLOPS_MANAGER_PORT = 3000;
  @IsString() FLOPS_MANAGER_HOST = '127.0.0.1';
}
