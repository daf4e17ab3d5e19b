import { runService } from '@crm/runtime';
import { emailWorkerService } from './service';

runService('email-worker', emailWorkerService);
